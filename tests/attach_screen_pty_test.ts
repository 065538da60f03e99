/**
 * attach and detach over GNU screen in a real pseudo-terminal: a shell in a
 * pane of a private tmux server runs `sessions --backend screen attach`,
 * and `sessions detach` typed inside the screen session brings it back.
 */
import assert from "node:assert/strict";
import { ScreenBackend } from "../backends/screen.ts";
import { Pty } from "./helpers/pty.ts";
import { PrivateScreen } from "./helpers/screen.ts";
import { sessionsShellLine } from "./helpers/sessions.ts";

Deno.test("sessions attach/detach over screen in a real terminal", async (t) => {
  const screen = await PrivateScreen.create();
  let pty: Pty | null = null;
  try {
    const backend = new ScreenBackend(screen.runner());
    await backend.create({
      name: "inner",
      directory: screen.dir,
      shell: "/bin/sh",
    });
    const [entry] = await screen.entries();
    pty = await Pty.start({
      command: "/bin/sh",
      env: { SCREENDIR: screen.dir, STY: "" },
    });
    const outer = pty;
    await outer.typeLine("echo outer-ready");
    await outer.waitFor(/^outer-ready$/m);

    await t.step("attach shows the screen session", async () => {
      await outer.typeLine(
        sessionsShellLine(["--backend", "screen", "attach", "inner"]),
      );
      // Screen takes over the whole pane.
      await outer.waitFor((text) => !text.includes("outer-ready"));
      // Inside the session, STY names it: ask the inner shell.
      await outer.typeLine('echo "inside:$STY"');
      await outer.waitFor(new RegExp(`inside:${entry.id}`));
      assert.equal((await backend.list({ all: false }))[0].state, "attached");
    });

    await t.step("sessions detach inside returns with exit 0", async () => {
      await outer.typeLine(sessionsShellLine(["detach"]));
      // "remote": the detach came from another process, not the keyboard.
      await outer.waitFor(
        new RegExp(
          `\\[remote detached from ${entry.id.replace(".", "\\.")}\\]`,
        ),
      );
      await outer.typeLine('echo "status:$?"');
      await outer.waitFor(/status:0/);
      assert.equal((await backend.list({ all: false }))[0].state, "detached");
    });
  } finally {
    await pty?.dispose();
    const alive = await screen.dispose();
    assert.deepEqual(alive, [], "screen processes left behind");
  }
});

Deno.test("sessions attach inside screen nests, and refuses the session you are in", async (t) => {
  const screen = await PrivateScreen.create();
  let pty: Pty | null = null;
  try {
    const backend = new ScreenBackend(screen.runner());
    for (const name of ["outer", "nested"]) {
      await backend.create({ name, directory: screen.dir, shell: "/bin/sh" });
    }
    const ids = Object.fromEntries(
      (await screen.entries()).map((entry) => [entry.name, entry.id]),
    );
    pty = await Pty.start({
      command: "/bin/sh",
      env: { SCREENDIR: screen.dir, STY: "" },
    });
    const term = pty;
    const attach = (name: string) =>
      sessionsShellLine(["--backend", "screen", "attach", name]);
    const whereAmI = async (id: string) => {
      await term.typeLine('echo "inside:$STY"');
      await term.waitFor(new RegExp(`inside:${id.replace(".", "\\.")}`));
    };

    await term.typeLine(attach("outer"));
    await whereAmI(ids.outer);

    await t.step("attaching the session you are in is refused", async () => {
      await term.typeLine(`${attach("outer")}; echo "status:$?"`);
      await term.waitFor(/already inside screen session 'outer'/);
      await term.waitFor(/status:1/);
    });

    await t.step(
      "another screen session opens nested",
      async () => {
        await term.typeLine("clear");
        await term.typeLine(attach("nested"));
        await whereAmI(ids.nested);
        const states = Object.fromEntries(
          (await backend.list({ all: false })).map((s) => [s.name, s.state]),
        );
        assert.deepEqual(states, { outer: "attached", nested: "attached" });
      },
    );

    await t.step("sessions detach leaves the inner one only", async () => {
      await term.typeLine(sessionsShellLine(["detach"]));
      await term.waitFor(
        new RegExp(`remote detached from ${ids.nested.replace(".", "\\.")}`),
      );
      await whereAmI(ids.outer);
      const states = Object.fromEntries(
        (await backend.list({ all: false })).map((s) => [s.name, s.state]),
      );
      assert.deepEqual(states, { outer: "attached", nested: "detached" });
    });
  } finally {
    await pty?.dispose();
    const alive = await screen.dispose();
    assert.deepEqual(alive, [], "screen processes left behind");
  }
});
