/**
 * attach and detach over tmux in a real terminal: `sessions` runs in a pane
 * of an outer private tmux server and attaches to an inner private tmux
 * server (another TMUX_TMPDIR), so the two never meet.
 */
import assert from "node:assert/strict";
import { Pty } from "./helpers/pty.ts";
import { PrivateScreen } from "./helpers/screen.ts";
import { sessionsShellLine, shellQuote } from "./helpers/sessions.ts";
import { PrivateTmux } from "./helpers/tmux.ts";

const TIMEOUT_MS = 20_000;

interface Fixture {
  inner: PrivateTmux;
  terminal: Pty;
  /** A `sessions …` line that uses only the private servers, from any shell. */
  line(args: string[]): string;
}

async function withAttachSetup(body: (fixture: Fixture) => Promise<void>) {
  const inner = await PrivateTmux.create("sessions-inner-");
  const screen = await PrivateScreen.create();
  let terminal: Pty | null = null;
  try {
    // Inside the inner session TMUX is the inner server's; SCREENDIR must stay private there
    // too. SHELL=/bin/sh: sessions made here must not wait on the user's shell start-up files.
    const line = (args: string[]) =>
      `SHELL=/bin/sh SCREENDIR=${shellQuote(screen.dir)} ${
        sessionsShellLine(args)
      }`;
    for (const name of ["work", "other"]) {
      await inner.ok([
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        name,
        "-x",
        "80",
        "-y",
        "20",
        "/bin/sh",
      ]);
      await inner.ok([
        "send-keys",
        "-t",
        `=${name}:`,
        "-l",
        `PS1='${name}$ '; echo MARK-${name.toUpperCase()}`,
      ]);
      await inner.ok(["send-keys", "-t", `=${name}:`, "Enter"]);
    }
    terminal = await Pty.start({
      command: "PS1='outer$ ' exec /bin/sh",
      env: { ...inner.env(), ...screen.env(), ZELLIJ: "" },
      cols: 100,
      rows: 30,
    });
    await terminal.waitFor(/outer\$/, TIMEOUT_MS);
    await body({ inner, terminal, line });
  } finally {
    await terminal?.dispose();
    await inner.dispose();
    const alive = await screen.dispose();
    assert.deepEqual(alive, []);
  }
}

async function clientsOf(inner: PrivateTmux, name: string): Promise<number> {
  const out = await inner.ok([
    "display-message",
    "-p",
    "-t",
    `=${name}:`,
    "#{session_attached}",
  ]);
  return Number(out.trim());
}

Deno.test("attach shows the session; detach typed inside returns to the shell with exit 0", async () => {
  await withAttachSetup(async ({ inner, terminal, line }) => {
    await terminal.typeLine(`${line(["attach", "work"])}; echo "rc=$?"`);
    await terminal.waitFor(/MARK-WORK/, TIMEOUT_MS);
    assert.equal(await clientsOf(inner, "work"), 1);

    await terminal.typeLine(line(["detach"]));
    const screen = await terminal.waitFor(/rc=\d+/, TIMEOUT_MS);
    assert.match(screen, /\[detached \(from session work\)\]/);
    assert.match(screen, /rc=0/);
    assert.equal(await clientsOf(inner, "work"), 0);
    assert.deepEqual((await inner.sessionNames()).sort(), ["other", "work"]);
  });
});

Deno.test("attach inside tmux switches the client instead of nesting", async () => {
  await withAttachSetup(async ({ inner, terminal, line }) => {
    await terminal.typeLine(`${line(["attach", "work"])}; echo "rc=$?"`);
    await terminal.waitFor(/MARK-WORK/, TIMEOUT_MS);

    await terminal.typeLine(`${line(["attach", "other"])}; echo "switched=$?"`);
    await terminal.waitFor(/MARK-OTHER/, TIMEOUT_MS);
    assert.equal(await clientsOf(inner, "other"), 1);
    assert.equal(await clientsOf(inner, "work"), 0);

    await terminal.typeLine(line(["detach"]));
    const screen = await terminal.waitFor(/rc=\d+/, TIMEOUT_MS);
    assert.match(screen, /rc=0/);
    assert.equal(await clientsOf(inner, "other"), 0);
  });
});

Deno.test("kill typed inside the session ends it and returns to the shell", async () => {
  await withAttachSetup(async ({ inner, terminal, line }) => {
    await terminal.typeLine(`${line(["attach", "work"])}; echo "rc=$?"`);
    await terminal.waitFor(/MARK-WORK/, TIMEOUT_MS);

    await terminal.typeLine(line(["kill", "work"]));
    await terminal.waitFor(/rc=\d+/, TIMEOUT_MS);
    assert.deepEqual(await inner.sessionNames(), ["other"]);
  });
});

Deno.test("attach --create creates a missing session and attaches to it", async () => {
  await withAttachSetup(async ({ inner, terminal, line }) => {
    await terminal.typeLine(
      `${line(["attach", "--create", "fresh"])}; echo "rc=$?"`,
    );
    await waitForClients(inner, "fresh", 1);
    await waitForPrompt(inner, "fresh");
    await terminal.typeLine(line(["detach"]));
    const screen = await terminal.waitFor(/rc=\d+/, TIMEOUT_MS);
    assert.match(screen, /rc=0/);
  });
});

/** Waits for a shell prompt in session NAME: keys typed before it may be lost. */
async function waitForPrompt(inner: PrivateTmux, name: string) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (
    !/[$#] ?$/m.test(
      await inner.ok(["capture-pane", "-p", "-t", `=${name}:`]).catch(() => ""),
    )
  ) {
    if (Date.now() > deadline) {
      throw new Error(
        `no prompt in ${name}: ${await inner.run([
          "capture-pane",
          "-p",
          "-t",
          `=${name}:`,
        ]).then((r) => r.stdout + r.stderr)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until session NAME exists with COUNT clients. */
async function waitForClients(inner: PrivateTmux, name: string, count: number) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (await clientsOf(inner, name).catch(() => -1) !== count) {
    if (Date.now() > deadline) {
      throw new Error(`session ${name} did not get ${count} client(s)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test("create --attach creates the session and attaches to it", async () => {
  await withAttachSetup(async ({ inner, terminal, line }) => {
    await terminal.typeLine(
      `${
        line(["create", "made", "--attach", "--shell", "/bin/sh"])
      }; echo "rc=$?"`,
    );
    await waitForClients(inner, "made", 1);
    await waitForPrompt(inner, "made");
    await terminal.typeLine(line(["detach"]));
    const screen = await terminal.waitFor(/rc=\d+/, TIMEOUT_MS);
    assert.match(screen, /rc=0/);
    assert.equal(await clientsOf(inner, "made"), 0);
  });
});

Deno.test("attach inside another multiplexer nests and says so", async () => {
  await withAttachSetup(async ({ inner, terminal, line }) => {
    const notes = await Deno.makeTempFile({ prefix: "sessions-note-" });
    try {
      // STY makes `sessions` believe it runs inside screen session 4242.fake.
      await terminal.typeLine(
        `STY=4242.fake ${line(["attach", "work"])} 2>${
          shellQuote(notes)
        }; echo "rc=$?"`,
      );
      await terminal.waitFor(/MARK-WORK/, TIMEOUT_MS);
      assert.equal(await clientsOf(inner, "work"), 1);
      assert.match(
        await Deno.readTextFile(notes),
        /^sessions: note: opening tmux session 'work' nested inside your screen session .*Ctrl-b d/,
      );
      await terminal.typeLine(line(["detach"]));
      assert.match(await terminal.waitFor(/rc=\d+/, TIMEOUT_MS), /rc=0/);
    } finally {
      await Deno.remove(notes);
    }
  });
});
