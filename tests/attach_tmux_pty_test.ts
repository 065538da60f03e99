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
import { waitUntil } from "./helpers/assert.ts";

const TIMEOUT_MS = 20_000;

interface Fixture {
  inner: PrivateTmux;
  terminal: Pty;
  /** A `sessions …` line that uses only the private servers, from any shell. */
  line(args: string[]): string;
  /**
   * Types `sessions ARGS; echo "rc=$?"` at the outer shell and waits until
   * session NAME has a client and a prompt.
   */
  attach(args: string[], name: string, prefix?: string): Promise<void>;
  /** Types `sessions detach` in the inner session; the outer screen once `rc=` shows. */
  detach(): Promise<string>;
  /** The private SCREENDIR, for a screen started by hand in a pane. */
  screenDir: string;
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
    const outer = terminal;
    const attach = async (args: string[], name: string, prefix = "") => {
      await outer.typeLine(`${prefix}${line(args)}; echo "rc=$?"`);
      await waitUntil(
        async () => await clientsOf(inner, name).catch(() => 0) === 1,
        TIMEOUT_MS,
      );
      // Keys typed before the shell's first prompt may be lost.
      await waitUntil(
        async () =>
          /[$#] ?$/m.test(
            await inner.ok(["capture-pane", "-p", "-t", `=${name}:`]),
          ),
        TIMEOUT_MS,
      );
    };
    const detach = async () => {
      await outer.typeLine(line(["detach"]));
      return await outer.waitFor(/rc=\d+/, TIMEOUT_MS);
    };
    await body({
      inner,
      terminal,
      line,
      attach,
      detach,
      screenDir: screen.dir,
    });
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
  await withAttachSetup(async ({ inner, terminal, attach, detach }) => {
    await attach(["attach", "work"], "work");
    await terminal.waitFor(/MARK-WORK/, TIMEOUT_MS);

    const screen = await detach();
    assert.match(screen, /\[detached \(from session work\)\]/);
    assert.match(screen, /rc=0/);
    assert.equal(await clientsOf(inner, "work"), 0);
    assert.deepEqual((await inner.sessionNames()).sort(), ["other", "work"]);
  });
});

Deno.test("attach inside tmux switches the client instead of nesting", async () => {
  await withAttachSetup(async ({ inner, terminal, line, attach, detach }) => {
    await attach(["attach", "work"], "work");
    await terminal.typeLine(line(["attach", "other"]));
    await terminal.waitFor(/MARK-OTHER/, TIMEOUT_MS);
    assert.equal(await clientsOf(inner, "other"), 1);
    assert.equal(await clientsOf(inner, "work"), 0);

    assert.match(await detach(), /rc=0/);
    assert.equal(await clientsOf(inner, "other"), 0);
  });
});

Deno.test("kill typed inside the session ends it and returns to the shell", async () => {
  await withAttachSetup(async ({ inner, terminal, line, attach }) => {
    await attach(["attach", "work"], "work");
    await terminal.typeLine(line(["kill", "work"]));
    await terminal.waitFor(/rc=\d+/, TIMEOUT_MS);
    assert.deepEqual(await inner.sessionNames(), ["other"]);
  });
});

Deno.test("attach --create and create --attach make the session and attach to it", async () => {
  await withAttachSetup(async ({ inner, terminal, attach, detach }) => {
    await attach(["attach", "--create", "fresh"], "fresh");
    assert.match(await detach(), /rc=0/);
    await terminal.typeLine("clear");
    await terminal.waitFor((screen) => !screen.includes("rc="), TIMEOUT_MS);

    await attach(["create", "made", "--attach", "--shell", "/bin/sh"], "made");
    assert.match(await detach(), /rc=0/);
    assert.equal(await clientsOf(inner, "made"), 0);
    assert.deepEqual((await inner.sessionNames()).sort(), [
      "fresh",
      "made",
      "other",
      "work",
    ]);
  });
});

Deno.test("attach inside another multiplexer nests and says so", async () => {
  await withAttachSetup(async ({ attach, detach }) => {
    const notes = await Deno.makeTempFile({ prefix: "sessions-note-" });
    try {
      // STY makes `sessions` believe it runs inside screen session 4242.fake.
      await attach(
        ["attach", "work"],
        "work",
        `exec 2>${shellQuote(notes)}; STY=4242.fake `,
      );
      assert.match(
        await Deno.readTextFile(notes),
        /^sessions: note: opening tmux session 'work' nested inside your screen session .*Ctrl-b d/,
      );
      assert.match(await detach(), /rc=0/);
    } finally {
      await Deno.remove(notes);
    }
  });
});

Deno.test("detach and attach run in a session without a terminal never touch another session's terminal", async () => {
  await withAttachSetup(async ({ inner, terminal, line, attach, detach }) => {
    await attach(["attach", "work"], "work");
    await terminal.waitFor(/MARK-WORK/, TIMEOUT_MS);
    // "other" has no client: a job running there types these, as cron or a script would.
    const runInOther = async (args: string[]) => {
      await inner.ok(["send-keys", "-t", "=other:", "clear", "Enter"]);
      await inner.ok([
        "send-keys",
        "-t",
        "=other:",
        "-l",
        `${line(args)} 2>&1; echo "rc=$?"`,
      ]);
      await inner.ok(["send-keys", "-t", "=other:", "Enter"]);
      let pane = "";
      await waitUntil(async () => {
        // -J: the 80-column pane wraps the long command line and the message.
        pane = await inner.ok(["capture-pane", "-p", "-J", "-t", "=other:"]);
        return /rc=\d+/.test(pane);
      }, TIMEOUT_MS);
      return pane;
    };

    const detached = await runInOther(["detach"]);
    assert.match(
      detached,
      /sessions: no terminal is attached to this tmux session \(there is nothing to detach\)/,
    );
    assert.match(detached, /rc=5/);
    assert.equal(await clientsOf(inner, "work"), 1);

    const switched = await runInOther(["attach", "work"]);
    assert.match(switched, /no terminal is attached to this tmux session/);
    assert.match(switched, /rc=5/);
    assert.equal(await clientsOf(inner, "work"), 1);
    assert.equal(await clientsOf(inner, "other"), 0);

    assert.match(await detach(), /rc=0/);
  });
});

/**
 * Attaches the terminal to tmux session `work` and starts screen session
 * `nested` by hand in its pane: screen's windows keep the pane's TMUX.
 */
async function screenInWorkPane(
  attach: Fixture["attach"],
  terminal: Pty,
  screenDir: string,
): Promise<void> {
  await attach(["attach", "work"], "work");
  await terminal.typeLine(
    `SCREENDIR=${shellQuote(screenDir)} screen -S nested /bin/sh`,
  );
  await terminal.typeLine("PS1='nested$ '; echo IN-SCREEN");
  await terminal.waitFor(/IN-SCREEN\s+nested\$/, TIMEOUT_MS);
}

Deno.test("screen started inside a tmux pane: detach typed in screen detaches screen, not tmux", async () => {
  await withAttachSetup(
    async ({ inner, terminal, line, attach, screenDir }) => {
      await screenInWorkPane(attach, terminal, screenDir);
      // list marks only the inner session as the one you are in.
      const listed = await Deno.makeTempFile({ prefix: "sessions-list-" });
      try {
        await terminal.typeLine(
          `${line(["list", "--json"])} > ${shellQuote(listed)}; echo LISTED`,
        );
        await terminal.waitFor(/^LISTED/m, TIMEOUT_MS);
        const rows: { name: string; backend: string; current: boolean }[] = JSON
          .parse(await Deno.readTextFile(listed));
        assert.deepEqual(
          rows.filter((row) => row.current).map((row) => [
            row.backend,
            row.name,
          ]),
          [["screen", "nested"]],
        );
      } finally {
        await Deno.remove(listed);
      }
      await terminal.typeLine(line(["detach"]));
      await terminal.waitFor(
        /\[(remote )?detached from \d+\.nested\]/,
        TIMEOUT_MS,
      );
      // The tmux client still shows the work session.
      assert.equal(await clientsOf(inner, "work"), 1);
    },
  );
});

Deno.test("screen started inside a tmux pane: attach typed in screen nests the tmux session there", async () => {
  await withAttachSetup(
    async ({ inner, terminal, line, attach, screenDir }) => {
      await screenInWorkPane(attach, terminal, screenDir);
      await terminal.typeLine(line(["attach", "other"]));
      // A second tmux client, inside screen: the outer one stays on work.
      await waitUntil(
        async () => await clientsOf(inner, "other").catch(() => 0) === 1,
        TIMEOUT_MS,
      );
      assert.equal(await clientsOf(inner, "work"), 1);
    },
  );
});
