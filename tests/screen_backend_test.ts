/**
 * ScreenBackend against real GNU screen, each test in its own SCREENDIR.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ProcessRunner } from "../backends/process.ts";
import { ScreenBackend, screenNameProblem } from "../backends/screen.ts";
import { BackendError, type Session } from "../backends/types.ts";
import {
  killSessionProcess,
  PrivateScreen,
  sessionShellPid,
} from "./helpers/screen.ts";
import { PrivateTmux } from "./helpers/tmux.ts";
import { waitUntil } from "./helpers/assert.ts";

async function withScreen(
  body: (
    screen: PrivateScreen,
    backend: ScreenBackend,
    workDir: string,
  ) => Promise<void>,
  prefix?: string,
): Promise<void> {
  const screen = await PrivateScreen.create(prefix);
  const workDir = await Deno.makeTempDir({ prefix: "sessions-screen-work-" });
  try {
    await body(screen, new ScreenBackend(screen.runner()), workDir);
  } finally {
    const alive = await screen.dispose();
    await Deno.remove(workDir, { recursive: true });
    assert.deepEqual(alive, [], "screen processes left behind");
  }
}

async function rejectsWith(
  promise: Promise<unknown>,
  kind: BackendError["kind"],
): Promise<BackendError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BackendError, String(error));
    assert.equal(error.kind, kind, error.message);
    return error;
  }
  assert.fail(`expected BackendError(${kind})`);
}

async function byName(backend: ScreenBackend, name: string): Promise<Session> {
  const matches = (await backend.list({ all: true })).filter((session) =>
    session.name === name
  );
  assert.equal(matches.length, 1, `one session named ${name}`);
  return matches[0];
}

Deno.test("screen backend: create, list, kill round trip", async () => {
  await withScreen(async (screen, backend, workDir) => {
    assert.deepEqual(await backend.list({ all: true }), []);
    await backend.create({ name: "dev", directory: workDir, shell: "/bin/sh" });

    const [session] = await backend.list({ all: false });
    assert.equal(session.name, "dev");
    assert.equal(session.backend, "screen");
    assert.equal(session.state, "detached");
    assert.equal(session.current, false);
    assert.match(session.id, /^\d+\.dev$/);
    assert.ok(session.created instanceof Date);
    // A value check, not a timing one: the listing's clock is the local time zone.
    assert.ok(Math.abs(session.created.getTime() - Date.now()) < 10 * 60_000);

    const shell = await sessionShellPid(Number(session.id.split(".")[0]));
    assert.equal(await Deno.readLink(`/proc/${shell}/cwd`), workDir);
    assert.equal(
      await Deno.readLink(`/proc/${shell}/exe`),
      await Deno.realPath("/bin/sh"),
    );

    await backend.kill(session);
    assert.deepEqual(await screen.entries(), []);
  });
});

Deno.test("screen backend: a taken name is refused, nothing created", async () => {
  await withScreen(async (screen, backend, workDir) => {
    const options = { name: "dev", directory: workDir, shell: "/bin/sh" };
    await backend.create(options);
    const error = await rejectsWith(backend.create(options), "exists");
    assert.match(error.message, /'dev' already exists/);
    assert.deepEqual(await screen.names(), ["dev"]);
  });
});

Deno.test("screen backend: exact names, never a prefix", async (t) => {
  await withScreen(async (screen, backend, workDir) => {
    for (const name of ["dev", "dev2", "dev.x"]) {
      await backend.create({ name, directory: workDir, shell: "/bin/sh" });
    }
    await t.step("'dev' is free to create next to 'dev2'", async () => {
      await rejectsWith(
        backend.create({ name: "dev", directory: workDir, shell: "/bin/sh" }),
        "exists",
      );
      await backend.create({
        name: "de",
        directory: workDir,
        shell: "/bin/sh",
      });
      assert.deepEqual(await screen.names(), ["de", "dev", "dev.x", "dev2"]);
    });
    await t.step("killing 'dev' leaves 'dev2' and 'dev.x'", async () => {
      await backend.kill(await byName(backend, "dev"));
      assert.deepEqual(await screen.names(), ["de", "dev.x", "dev2"]);
    });
    await t.step("killing 'dev.x' leaves 'dev2'", async () => {
      await backend.kill(await byName(backend, "dev.x"));
      assert.deepEqual(await screen.names(), ["de", "dev2"]);
    });
  });
});

Deno.test("screen backend: invalid names are refused, nothing created", async () => {
  await withScreen(async (screen, backend, workDir) => {
    for (
      const name of ["", "a/b", "tab\there", "new\nline", "x".repeat(81)]
    ) {
      assert.notEqual(backend.invalidNameReason(name), null, name);
      await rejectsWith(
        backend.create({ name, directory: workDir, shell: "/bin/sh" }),
        "invalid-name",
      );
    }
    assert.match(backend.invalidNameReason("x".repeat(81)) ?? "", /80 bytes/);
    assert.deepEqual(await screen.entries(), []);
  });
});

Deno.test("screen backend: names too long for the socket path are refused", async () => {
  await withScreen(async (screen, backend, workDir) => {
    // DIR + "/" + a 7-digit PID + "." + NAME must fit in 107 bytes.
    const room = 107 - screen.dir.length - 1 - 7 - 1;
    assert.ok(room < 80, "the directory must be long enough to matter");
    const fits = "n".repeat(room);
    assert.equal(backend.invalidNameReason(fits), null);
    const error = await rejectsWith(
      backend.create({
        name: fits + "n",
        directory: workDir,
        shell: "/bin/sh",
      }),
      "invalid-name",
    );
    assert.match(error.message, /socket path/);
    assert.deepEqual(await screen.entries(), []);

    await backend.create({ name: fits, directory: workDir, shell: "/bin/sh" });
    assert.deepEqual(await screen.names(), [fits]);
  }, "scr-long-" + "d".repeat(40) + "-");
});

Deno.test("screen backend: shell metacharacters in names execute nothing", async () => {
  await withScreen(async (screen, backend, workDir) => {
    const marker = join(workDir, "pwned");
    const names = [
      "x;touch pwned",
      "$(touch pwned)",
      "`touch pwned`",
      `it's "quoted" \\ back\\slash`,
      "a b | touch pwned &",
      "%n ^A $HOME",
    ];
    for (const name of names) {
      await backend.create({ name, directory: workDir, shell: "/bin/sh" });
    }
    assert.deepEqual(await screen.names(), [...names].sort());

    const absoluteMarker = `/tmp/sessions-screen-pwned-${Deno.pid}`;
    await rejectsWith(
      backend.create({
        name: `x;touch ${absoluteMarker}`,
        directory: workDir,
        shell: "/bin/sh",
      }),
      "invalid-name",
    );

    for (const name of names) await backend.kill(await byName(backend, name));
    assert.deepEqual(await screen.entries(), []);
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(absoluteMarker), Deno.errors.NotFound);
  });
});

Deno.test("screen backend: detachAll detaches every client", async () => {
  await withScreen(async (screen, backend, workDir) => {
    await backend.create({
      name: "shared",
      directory: workDir,
      shell: "/bin/sh",
    });
    const tmux = await PrivateTmux.create();
    try {
      const session = await byName(backend, "shared");
      await tmux.ok([
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "client",
        "-e",
        `SCREENDIR=${screen.dir}`,
        "screen",
        "-x",
        session.id,
      ]);
      await waitUntil(async () =>
        (await byName(backend, "shared")).state === "attached"
      );
      await backend.detachAll(await byName(backend, "shared"));
      await waitUntil(async () =>
        (await byName(backend, "shared")).state === "detached"
      );
      // Nothing attached: still what was asked for.
      await backend.detachAll(await byName(backend, "shared"));
      assert.deepEqual(await screen.names(), ["shared"]);
    } finally {
      await tmux.dispose();
    }
  });
});

Deno.test("screen backend: dead sessions", async (t) => {
  await withScreen(async (screen, backend, workDir) => {
    await backend.create({
      name: "doomed",
      directory: workDir,
      shell: "/bin/sh",
    });
    const { id } = await byName(backend, "doomed");
    await killSessionProcess(Number(id.split(".")[0]));
    await waitUntil(async () =>
      (await screen.entries()).some((entry) => entry.state === "dead")
    );

    await t.step("hidden without all, shown as dead with all", async () => {
      assert.deepEqual(await backend.list({ all: false }), []);
      const [dead] = await backend.list({ all: true });
      assert.equal(dead.state, "dead");
      assert.equal(dead.id, id);
    });
    await t.step("attaching a dead session is refused", async () => {
      await rejectsWith(
        backend.attach(await byName(backend, "doomed")),
        "failed",
      );
    });
    await t.step(
      "its name can be used again; the dead socket goes",
      async () => {
        await backend.create({
          name: "doomed",
          directory: workDir,
          shell: "/bin/sh",
        });
        const entries = await screen.entries();
        assert.equal(entries.length, 1);
        assert.equal(entries[0].state, "detached");
        assert.notEqual(entries[0].id, id);
      },
    );
    await t.step("kill removes a dead socket", async () => {
      const live = await byName(backend, "doomed");
      await killSessionProcess(Number(live.id.split(".")[0]));
      await waitUntil(async () =>
        (await screen.entries()).every((entry) => entry.state === "dead")
      );
      await backend.kill(await byName(backend, "doomed"));
      assert.deepEqual(await screen.entries(), []);
    });
  });
});

Deno.test("screen backend: inside a session (STY)", async () => {
  await withScreen(async (screen, backend, workDir) => {
    await backend.create({
      name: "here",
      directory: workDir,
      shell: "/bin/sh",
    });
    await backend.create({
      name: "there",
      directory: workDir,
      shell: "/bin/sh",
    });
    const { id } = await byName(backend, "here");
    const inside = new ScreenBackend(screen.runner({ STY: id }));
    assert.equal(inside.currentSessionName(), "here");
    const sessions = await inside.list({ all: false });
    assert.deepEqual(
      sessions.filter((session) => session.current).map((session) =>
        session.name
      ),
      ["here"],
    );
    await rejectsWith(inside.attach(await byName(inside, "here")), "failed");

    assert.equal(backend.currentSessionName(), null);
    await rejectsWith(backend.detachCurrent(), "not-inside");
  });
});

Deno.test("screen backend: not installed means no process is started", async () => {
  const runner: ProcessRunner = {
    run: () => Promise.reject(new Error("must not run")),
    interactive: () => Promise.reject(new Error("must not run")),
    env: () => undefined,
    which: () => null,
  };
  const backend = new ScreenBackend(runner);
  assert.equal(backend.isInstalled(), false);
  await rejectsWith(backend.list({ all: false }), "not-installed");
  await rejectsWith(
    backend.create({ name: "x", directory: "/tmp", shell: "/bin/sh" }),
    "not-installed",
  );
});

/**
 * A fake screen whose `-ls` answers come from LISTINGS in turn (the last
 * one repeats), for the races and silent failures real screen shows only
 * now and then; it records every argument list.
 */
function scriptedScreen(dir: string, listings: string[]) {
  const calls: string[][] = [];
  let next = 0;
  const runner: ProcessRunner = {
    run: (_command, args) => {
      calls.push(args);
      const stdout = args[0] === "-ls"
        ? listings[Math.min(next++, listings.length - 1)]
        : "";
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    },
    interactive: () => Promise.reject(new Error("must not run")),
    env: (name) => name === "SCREENDIR" ? dir : undefined,
    which: () => "/usr/bin/screen",
  };
  return { calls, backend: new ScreenBackend(runner) };
}

Deno.test("screen backend: create waits for a socket that appears late", async () => {
  const dir = "/tmp/scr-x";
  const none = `No Sockets found in ${dir}.\n\r\n`;
  const { calls, backend } = scriptedScreen(dir, [
    none,
    none,
    none,
    `There is a screen on:\r\n\t4242.late\t(11/24/26 01:00:06)\t(Detached)\n1 Socket in ${dir}.\r\n`,
  ]);
  await backend.create({ name: "late", directory: "/tmp", shell: "/bin/sh" });
  assert.deepEqual(calls, [
    ["-ls"],
    ["-dmS", "late", "-s", "/bin/sh"],
    ["-ls"],
    ["-ls"],
    ["-ls"],
  ]);
});

Deno.test("screen backend: kill returns once the session is gone", async () => {
  const dir = "/tmp/scr-x";
  const { calls, backend } = scriptedScreen(dir, [
    `There is a screen on:\r\n\t4242.dev\t(11/24/26 01:00:06)\t(Detached)\n1 Socket in ${dir}.\r\n`,
    `There is a screen on:\r\n\t4242.dev\t(11/24/26 01:00:06)\t(Detached)\n1 Socket in ${dir}.\r\n`,
    `No Sockets found in ${dir}.\n\r\n`,
  ]);
  const [session] = await backend.list({ all: false });
  await backend.kill(session);
  assert.deepEqual(calls, [
    ["-ls"],
    ["-S", "4242.dev", "-X", "quit"],
    ["-ls"],
    ["-ls"],
  ]);
});

Deno.test("screen backend: a dead session whose socket -wipe cannot remove is reported, not killed silently", async () => {
  const dir = "/tmp/scr-x";
  const dead =
    `There is a screen on:\r\n\t4242.dev\t(11/24/26 01:00:06)\t(Dead ???)\n1 Socket in ${dir}.\r\n`;
  const { calls, backend } = scriptedScreen(dir, [dead]);
  const [session] = await backend.list({ all: true });
  assert.equal(session.state, "dead");
  await rejectsWith(backend.kill(session), "failed");
  assert.deepEqual(calls.slice(0, 3), [["-ls"], ["-wipe", "4242.dev"], [
    "-ls",
  ]]);
});

Deno.test("screen backend: a session screen made under a cut name is ended", async () => {
  // The name check leaves room for a 7-digit PID; fake a system with longer
  // PIDs, where screen cuts the socket path to 107 bytes (as it does).
  const dir = "/tmp/scr-" + "x".repeat(20);
  const name = "n".repeat(107 - dir.length - 1 - 7 - 1);
  const pid = "12345678";
  const cut = "n".repeat(107 - dir.length - 1 - pid.length - 1);
  assert.equal(screenNameProblem(name, dir), null);
  const { calls, backend } = scriptedScreen(dir, [
    `No Sockets found in ${dir}.\n\r\n`,
    `There is a screen on:\r\n\t${pid}.${cut}\t(11/24/26 01:00:06)\t(Detached)\n1 Socket in ${dir}.\r\n`,
  ]);
  const error = await rejectsWith(
    backend.create({ name, directory: "/tmp", shell: "/bin/sh" }),
    "failed",
  );
  assert.match(error.message, /does not exist/);
  assert.deepEqual(calls.slice(1), [
    ["-dmS", name, "-s", "/bin/sh"],
    ["-ls"],
    ["-S", `${pid}.${cut}`, "-X", "quit"],
  ]);
});

Deno.test("screen backend: screen's own refusal to list is an error, not 'no sessions'", async () => {
  await withScreen(async (screen, backend) => {
    await Deno.chmod(screen.dir, 0o755);
    try {
      const error = await rejectsWith(backend.list({ all: false }), "failed");
      assert.match(error.message, /must have mode 700/);
    } finally {
      await Deno.chmod(screen.dir, 0o700);
    }
  });
});
