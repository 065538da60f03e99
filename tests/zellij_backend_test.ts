/**
 * One behavioural suite for ZellijBackend, run twice:
 *
 * (a) against FakeZellij, a small in-process stand-in for the `zellij`
 *     executable. zellij cannot be installed on the machines this project is
 *     built on, so the fake simulates the documented CLI (outputs and exit
 *     codes as zellij v0.45.0's source prints them) and records every
 *     argv, cwd and environment; the suite then asserts the EXACT argument
 *     lists the backend passes.
 * (b) against a real `zellij` when one is on PATH, on a private socket
 *     directory, cache and config (ZELLIJ_SOCKET_DIR, XDG_CACHE_HOME,
 *     ZELLIJ_CONFIG_DIR temp dirs). Without zellij that test is reported as
 *     ignored, never as passed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ProcessOptions,
  type ProcessResult,
  type ProcessRunner,
  systemRunner,
} from "../backends/process.ts";
import { BackendError, type Session } from "../backends/types.ts";
import { ZellijBackend } from "../backends/zellij.ts";

interface Call {
  mode: "run" | "interactive";
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
}

interface FakeSession {
  exited: boolean;
  createdMs: number;
  cwd?: string;
  shell?: string;
}

/** zellij's `[Created … ago]` age (humantime), for the ages a test can reach. */
function formatAge(seconds: number): string {
  if (seconds === 0) return "0s";
  const parts: string[] = [];
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor(seconds % 3600 / 60);
  if (hours > 0) parts.push(`${hours}h`);
  if (minutes > 0) parts.push(`${minutes}m`);
  if (seconds % 60 > 0) parts.push(`${seconds % 60}s`);
  return parts.join(" ");
}

const ok = (stdout = ""): ProcessResult => ({ code: 0, stdout, stderr: "" });
const fail = (code: number, stderr: string, stdout = ""): ProcessResult => ({
  code,
  stdout,
  stderr,
});

/**
 * A FAKE zellij (zellij is not installable here): the subset of its CLI the
 * backend uses, with zellij's matching rules (exact name or unique prefix
 * for `attach NAME`, exact for kill/delete, resurrection of exited names).
 */
class FakeZellij implements ProcessRunner {
  readonly calls: Call[] = [];
  readonly sessions = new Map<string, FakeSession>();
  /** Names `zellij attach` / `action switch-session` connected to. */
  readonly attachedTo: string[] = [];
  detaches = 0;

  constructor(
    private readonly environment: Record<string, string> = {},
    private readonly installed = true,
  ) {}

  env(name: string): string | undefined {
    return this.environment[name];
  }

  which(command: string): string | null {
    return this.installed && command === "zellij" ? "/usr/bin/zellij" : null;
  }

  run(
    command: string,
    args: string[],
    options?: ProcessOptions,
  ): Promise<ProcessResult> {
    this.record("run", command, args, options);
    return Promise.resolve(this.execute(args, options));
  }

  interactive(
    command: string,
    args: string[],
    options?: ProcessOptions,
  ): Promise<number> {
    this.record("interactive", command, args, options);
    return Promise.resolve(this.execute(args, options).code);
  }

  private record(
    mode: Call["mode"],
    command: string,
    args: string[],
    options?: ProcessOptions,
  ): void {
    if (!this.installed || command !== "zellij") {
      throw new Deno.errors.NotFound(`spawned missing program ${command}`);
    }
    const call: Call = { mode, command, args: [...args] };
    if (options?.cwd !== undefined) call.cwd = options.cwd;
    if (options?.env !== undefined) call.env = { ...options.env };
    this.calls.push(call);
  }

  /** clap's view of ARGS: words before `--`, and the one positional after it. */
  private execute(args: string[], options?: ProcessOptions): ProcessResult {
    const split = args.indexOf("--");
    const words = split === -1 ? args : args.slice(0, split);
    const name = split === -1 ? undefined : args[split + 1];
    const key = words.join(" ");
    if (key === "list-sessions --no-formatting") return this.listSessions();
    if (key === "attach --create-background" && name !== undefined) {
      return this.createBackground(name, options);
    }
    if (key === "attach" && name !== undefined) return this.attach(name);
    if (key === "kill-session" && name !== undefined) {
      const session = this.sessions.get(name);
      if (!session || session.exited) {
        return fail(1, "", `No session named ${JSON.stringify(name)} found.\n`);
      }
      session.exited = true;
      return ok();
    }
    if (
      (key === "delete-session" || key === "delete-session --force") &&
      name !== undefined
    ) {
      const session = this.sessions.get(name);
      if (!session) {
        return fail(2, `Session: ${JSON.stringify(name)} not found.\n`);
      }
      if (!session.exited && key === "delete-session") {
        return fail(
          1,
          "",
          `A session by the name ${
            JSON.stringify(name)
          } exists and is active, use --force to delete it.\n`,
        );
      }
      this.sessions.delete(name);
      return ok(`Session: ${JSON.stringify(name)} successfully deleted.\n`);
    }
    if (key === "action switch-session" && name !== undefined) {
      if (this.environment.ZELLIJ === undefined) {
        return fail(1, "Error: not inside a zellij session\n");
      }
      this.attachedTo.push(name);
      return ok();
    }
    if (key === "action detach") {
      this.detaches++;
      return ok();
    }
    return fail(2, `error: unexpected arguments ${JSON.stringify(args)}\n`);
  }

  private listSessions(): ProcessResult {
    if (this.sessions.size === 0) {
      return fail(1, "No active zellij sessions found.\n");
    }
    const current = this.environment.ZELLIJ_SESSION_NAME;
    const lines = [...this.sessions].map(([name, session]) => {
      const age = formatAge(
        Math.max(0, Math.floor((Date.now() - session.createdMs) / 1000)),
      );
      const suffix = name === current
        ? "(current)"
        : session.exited
        ? "(EXITED - attach to resurrect)"
        : "";
      return `${name} [Created ${age} ago] ${suffix}\n`;
    });
    return ok(lines.join(""));
  }

  private createBackground(
    name: string,
    options?: ProcessOptions,
  ): ProcessResult {
    if (
      name.trim() === "" || name === "." || name === ".." || /\//.test(name)
    ) {
      return fail(1, "Session name cannot contain '/'.\n");
    }
    const existing = this.sessions.get(name);
    if (existing?.exited) {
      existing.exited = false; // resurrected, as zellij does
      return ok();
    }
    if (existing) return fail(1, "Session already exists\n");
    this.sessions.set(name, {
      exited: false,
      createdMs: Date.now(),
      cwd: options?.cwd,
      shell: options?.env?.SHELL,
    });
    return ok();
  }

  private attach(prefix: string): ProcessResult {
    const exact = this.sessions.get(prefix);
    if (exact) {
      exact.exited = false;
      this.attachedTo.push(prefix);
      return ok();
    }
    const live = [...this.sessions].filter(([name, session]) =>
      !session.exited && name.startsWith(prefix)
    );
    if (live.length !== 1) {
      return fail(1, `No session with the name '${prefix}' found!\n`);
    }
    this.attachedTo.push(live[0][0]);
    return ok();
  }
}

/** What the suite needs from either zellij. */
interface Harness {
  backend: ZellijBackend;
  runner: ProcessRunner;
  /** The session directory create uses; also where an injected command would write. */
  directory: string;
  shell: string;
  /** Recorded calls (the fake only): the suite then checks exact argv. */
  calls: Call[] | null;
  /** Ends SESSION's server so that it shows as exited. */
  makeExited(name: string): Promise<void>;
}

const LIST: Call = {
  mode: "run",
  command: "zellij",
  args: ["list-sessions", "--no-formatting"],
};

function run(args: string[]): Call {
  return { mode: "run", command: "zellij", args };
}

/** Runs BODY and returns the calls it made (null for a real zellij). */
async function callsOf(
  harness: Harness,
  body: () => Promise<unknown>,
): Promise<Call[] | null> {
  const before = harness.calls?.length ?? 0;
  await body();
  return harness.calls?.slice(before) ?? null;
}

async function rejectsWith(
  promise: Promise<unknown>,
  kind: BackendError["kind"],
  message?: RegExp,
): Promise<BackendError> {
  const error = await promise.then(
    () => assert.fail(`expected a BackendError(${kind})`),
    (error: unknown) => error,
  );
  assert.ok(error instanceof BackendError, String(error));
  assert.equal(error.kind, kind, error.message);
  if (message) assert.match(error.message, message);
  return error;
}

async function find(
  backend: ZellijBackend,
  name: string,
  all = true,
): Promise<Session | undefined> {
  return (await backend.list({ all })).find((session) => session.name === name);
}

async function mustFind(
  backend: ZellijBackend,
  name: string,
): Promise<Session> {
  const session = await find(backend, name);
  assert.ok(session, `session '${name}' is listed`);
  return session;
}

function createCall(harness: Harness, name: string): Call {
  return {
    mode: "run",
    command: "zellij",
    args: ["attach", "--create-background", "--", name],
    cwd: harness.directory,
    // Without tmux's or screen's variables: the session's programs must not
    // think they run inside those.
    env: {
      SHELL: harness.shell,
      TMUX: undefined,
      TMUX_PANE: undefined,
      STY: undefined,
      WINDOW: undefined,
    },
  };
}

/** The calls `kill` makes for a live session that is not the current one. */
function liveKillCalls(name: string): Call[] {
  return [
    run(["kill-session", "--", name]),
    LIST,
    run(["delete-session", "--force", "--", name]),
    LIST,
  ];
}

async function behaviouralSuite(t: Deno.TestContext, harness: Harness) {
  const { backend } = harness;
  const create = (name: string) =>
    backend.create({
      name,
      directory: harness.directory,
      shell: harness.shell,
    });

  await t.step("no sessions: an empty list", async () => {
    const calls = await callsOf(harness, async () => {
      assert.deepEqual(await backend.list({ all: true }), []);
    });
    if (calls) assert.deepEqual(calls, [LIST]);
  });

  await t.step("create, list, kill round trip", async () => {
    const calls = await callsOf(harness, () => create("round trip"));
    if (calls) {
      assert.deepEqual(calls, [LIST, createCall(harness, "round trip")]);
    }

    const session = await mustFind(harness.backend, "round trip");
    assert.equal(session.backend, "zellij");
    assert.equal(session.state, "detached");
    assert.equal(session.current, false);
    assert.equal(session.id, "round trip");
    assert.equal(session.clients, null);
    assert.equal(session.windows, null);
    assert.ok(session.created instanceof Date);

    const killCalls = await callsOf(harness, () => backend.kill(session));
    if (killCalls) assert.deepEqual(killCalls, liveKillCalls("round trip"));
    assert.equal(await find(harness.backend, "round trip"), undefined);
  });

  await t.step(
    "exact names: a prefix sibling is a different session",
    async () => {
      await create("dev2");
      await create("dev");
      await rejectsWith(create("dev2"), "exists", /dev2/);
      await rejectsWith(create("dev"), "exists");

      await backend.kill(await mustFind(harness.backend, "dev"));
      assert.equal(await find(harness.backend, "dev"), undefined);
      const sibling = await mustFind(harness.backend, "dev2");
      assert.equal(sibling.state, "detached");
      await backend.kill(sibling);
    },
  );

  await t.step("refusals start no process and create nothing", async () => {
    const tooLong = "x".repeat(200);
    for (const name of ["", "  ", ".", "..", "a/b", "bell\x07", tooLong]) {
      const calls = await callsOf(
        harness,
        () => rejectsWith(create(name), "invalid-name"),
      );
      if (calls) assert.deepEqual(calls, [], JSON.stringify(name));
    }
    assert.deepEqual(await backend.list({ all: true }), []);
  });

  await t.step("not installed: refused without spawning", async () => {
    const spawned: string[] = [];
    const missing: ProcessRunner = {
      env: (name) => harness.runner.env(name),
      which: () => null,
      run: (command) => {
        spawned.push(command);
        return Promise.reject(new Error("spawned"));
      },
      interactive: (command) => {
        spawned.push(command);
        return Promise.reject(new Error("spawned"));
      },
    };
    const absent = new ZellijBackend(missing, () => true);
    assert.equal(absent.isInstalled(), false);
    await rejectsWith(absent.list({ all: true }), "not-installed");
    await rejectsWith(
      absent.create({
        name: "x",
        directory: harness.directory,
        shell: harness.shell,
      }),
      "not-installed",
    );
    assert.deepEqual(spawned, []);
  });

  await t.step(
    "exited sessions: hidden, shown with all, deleted by kill",
    async () => {
      await create("gone");
      await harness.makeExited("gone");
      assert.equal(await find(harness.backend, "gone", false), undefined);
      const exited = await mustFind(harness.backend, "gone");
      assert.equal(exited.state, "exited");

      // attach --create-background would resurrect it: refused instead
      const refusal = await callsOf(harness, async () => {
        const error = await rejectsWith(create("gone"), "exists", /exited/);
        assert.match(error.hint ?? "", /sessions kill gone/);
      });
      if (refusal) assert.deepEqual(refusal, [LIST]);

      const calls = await callsOf(harness, () => backend.kill(exited));
      if (calls) {
        assert.deepEqual(calls, [
          run(["delete-session", "--", "gone"]),
        ]);
      }
      assert.equal(await find(harness.backend, "gone"), undefined);
    },
  );

  await t.step(
    "names full of metacharacters are single argv elements",
    async () => {
      const names = [
        "x;touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        `it's "quoted" & | > pwned`,
        "-h",
        "options",
        "--create",
        "ünï cødé ☕",
      ];
      for (const name of names) {
        const calls = await callsOf(harness, () => create(name));
        if (calls) assert.deepEqual(calls, [LIST, createCall(harness, name)]);
        assert.equal(
          (await mustFind(harness.backend, name)).state,
          "detached",
          name,
        );
      }
      for (const name of names) {
        const calls = await callsOf(
          harness,
          async () => backend.kill(await mustFind(harness.backend, name)),
        );
        if (calls) assert.deepEqual(calls, [LIST, ...liveKillCalls(name)]);
      }
      assert.deepEqual(await backend.list({ all: true }), []);
      const written = [...Deno.readDirSync(harness.directory)].map((e) =>
        e.name
      );
      assert.deepEqual(written, [], "nothing ran in the session directory");
    },
  );

  await t.step("detach from outside is refused clearly", async () => {
    await create("solo");
    const solo = await mustFind(harness.backend, "solo");
    const calls = await callsOf(harness, async () => {
      await rejectsWith(backend.detachCurrent(), "not-inside");
      await rejectsWith(
        backend.detachAll(solo),
        "not-inside",
        /no command to detach every client of session 'solo'/,
      );
    });
    if (calls) assert.deepEqual(calls, []);
    await backend.kill(solo);
  });

  await t.step(
    "attach needs a terminal and an exact, existing name",
    async () => {
      const noTerminal = new ZellijBackend(harness.runner, () => false);
      await create("term");
      const term = await mustFind(harness.backend, "term");
      const calls = await callsOf(
        harness,
        () => rejectsWith(noTerminal.attach(term), "not-a-terminal"),
      );
      if (calls) assert.deepEqual(calls, [LIST]);
      await backend.kill(term);
      // gone since it was listed: `zellij attach term` must not be run
      const stale = await callsOf(
        harness,
        () => rejectsWith(backend.attach(term), "not-found"),
      );
      if (stale) assert.deepEqual(stale, [LIST]);
    },
  );
}

function fakeHarness(fake: FakeZellij, directory: string): Harness {
  return {
    backend: new ZellijBackend(fake, () => true),
    runner: fake,
    directory,
    shell: "/bin/sh",
    calls: fake.calls,
    makeExited(name) {
      const session = fake.sessions.get(name);
      assert.ok(session);
      session.exited = true;
      return Promise.resolve();
    },
  };
}

Deno.test("zellij backend against a fake zellij (records exact argv)", async (t) => {
  const directory = await Deno.makeTempDir({ prefix: "zellij-fake-" });
  try {
    const fake = new FakeZellij({ HOME: "/home/u", ZELLIJ_SOCKET_DIR: "/s" });
    await behaviouralSuite(t, fakeHarness(fake, directory));

    await t.step("the fake saw each session's cwd and shell", () => {
      // every create ran in the session directory with SHELL set
      const creates = fake.calls.filter((call) =>
        call.args[1] === "--create-background"
      );
      assert.ok(creates.length > 0);
      for (const call of creates) {
        assert.equal(call.cwd, directory);
        assert.equal(call.env?.SHELL, "/bin/sh");
        assert.ok(
          call.env && "TMUX" in call.env && call.env.TMUX === undefined,
        );
      }
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("zellij backend inside a (fake) zellij session", async (t) => {
  const directory = await Deno.makeTempDir({ prefix: "zellij-fake-" });
  try {
    const fake = new FakeZellij({
      ZELLIJ: "0",
      ZELLIJ_SESSION_NAME: "here",
      ZELLIJ_PANE_ID: "1",
      ZELLIJ_SOCKET_DIR: "/s",
    });
    const harness = fakeHarness(fake, directory);
    const { backend } = harness;
    for (const name of ["here", "there", "th"]) {
      await backend.create({ name, directory, shell: "/bin/zsh" });
    }

    await t.step("the current session is marked and attached", async () => {
      assert.equal(backend.currentSessionName(), "here");
      const sessions = await backend.list({ all: false });
      assert.deepEqual(
        sessions.map((s) => [s.name, s.state, s.current]),
        [["here", "attached", true], ["there", "detached", false], [
          "th",
          "detached",
          false,
        ]],
      );
    });

    await t.step("attach switches the client instead of nesting", async () => {
      const there = await mustFind(harness.backend, "there");
      const calls = await callsOf(harness, async () => {
        assert.equal(await backend.attach(there), 0);
      });
      assert.deepEqual(calls, [
        LIST,
        run(["action", "switch-session", "--", "there"]),
      ]);
      assert.deepEqual(fake.attachedTo, ["there"]);
    });

    await t.step(
      "attaching to the session you are in does nothing",
      async () => {
        const here = await mustFind(harness.backend, "here");
        const calls = await callsOf(harness, async () => {
          assert.equal(await backend.attach(here), 0);
        });
        assert.deepEqual(calls, [LIST]);
      },
    );

    await t.step("detach detaches this client", async () => {
      const calls = await callsOf(harness, () => backend.detachCurrent());
      assert.deepEqual(calls, [run(["action", "detach"])]);
      assert.equal(fake.detaches, 1);
    });

    await t.step(
      "killing the current session is one forced delete",
      async () => {
        const here = await mustFind(harness.backend, "here");
        const calls = await callsOf(harness, () => backend.kill(here));
        assert.deepEqual(calls, [
          run(["delete-session", "--force", "--", "here"]),
        ]);
        assert.equal(fake.sessions.has("here"), false);
      },
    );

    await t.step("kill leaves a prefix sibling alone", async () => {
      await backend.kill(await mustFind(harness.backend, "th"));
      assert.deepEqual([...fake.sessions.keys()], ["there"]);
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("zellij attach outside zellij hands over the terminal", async () => {
  const directory = await Deno.makeTempDir({ prefix: "zellij-fake-" });
  try {
    const fake = new FakeZellij({ ZELLIJ_SOCKET_DIR: "/s" });
    const harness = fakeHarness(fake, directory);
    await harness.backend.create({ name: "dev2", directory, shell: "/bin/sh" });
    await harness.backend.create({ name: "dev", directory, shell: "/bin/sh" });
    const dev = await mustFind(harness.backend, "dev");
    const calls = await callsOf(harness, async () => {
      assert.equal(await harness.backend.attach(dev), 0);
    });
    assert.deepEqual(calls, [
      LIST,
      { mode: "interactive", command: "zellij", args: ["attach", "--", "dev"] },
    ]);
    assert.deepEqual(fake.attachedTo, ["dev"]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

const ZELLIJ_PATH = systemRunner.which("zellij");

/** Polls CONDITION for up to ten seconds. */
async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  for (let step = 0; step < 100; step++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`gave up waiting for ${what}`);
}

/** CACHE/<protocol or version>/session_info/NAME/session-layout.kdl, in any protocol dir. */
function savedLayoutExists(cache: string, name: string): boolean {
  try {
    return [...Deno.readDirSync(cache)].some((entry) => {
      try {
        return Deno.statSync(
          join(cache, entry.name, "session_info", name, "session-layout.kdl"),
        ).isFile;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

Deno.test({
  name: "zellij backend against a real zellij (private socket dir)",
  ignore: ZELLIJ_PATH === null,
  async fn(t) {
    // Short temp paths keep the socket path far below 108 bytes.
    const root = await Deno.makeTempDir({ prefix: "zj" });
    const directory = join(root, "work");
    const isolation: Record<string, string | undefined> = {
      ZELLIJ_SOCKET_DIR: join(root, "s"),
      XDG_CACHE_HOME: join(root, "cache"),
      ZELLIJ_CONFIG_DIR: join(root, "config"),
      ZELLIJ: undefined,
      ZELLIJ_SESSION_NAME: undefined,
      ZELLIJ_PANE_ID: undefined,
    };
    for (const dir of ["work", "s", "cache", "config"]) {
      await Deno.mkdir(join(root, dir), { mode: 0o700 });
    }
    // Write the resurrection record every second, so a killed session
    // shows as EXITED without waiting a minute.
    await Deno.writeTextFile(
      join(root, "config", "config.kdl"),
      "serialization_interval 1\n",
    );
    const isolated: ProcessRunner = {
      env: (name) => name in isolation ? isolation[name] : Deno.env.get(name),
      which: (command) => systemRunner.which(command),
      run: (command, args, options) =>
        systemRunner.run(command, args, {
          ...options,
          env: { ...isolation, ...options?.env },
        }),
      interactive: (command, args, options) =>
        systemRunner.interactive(command, args, {
          ...options,
          env: { ...isolation, ...options?.env },
        }),
    };
    const backend = new ZellijBackend(isolated, () => true);
    try {
      await behaviouralSuite(t, {
        backend,
        runner: isolated,
        directory,
        shell: "/bin/sh",
        calls: null,
        async makeExited(name) {
          // Only a session whose layout zellij has saved can be resurrected.
          await waitFor(
            () => savedLayoutExists(join(root, "cache", "zellij"), name),
            `zellij to save the layout of '${name}'`,
          );
          const killed = await isolated.run("zellij", [
            "kill-session",
            "--",
            name,
          ]);
          assert.equal(killed.code, 0, killed.stderr);
          await waitFor(
            async () => (await find(backend, name))?.state === "exited",
            `zellij to list '${name}' as exited`,
          );
        },
      });
    } finally {
      // Only our private socket dir and cache: these end our servers only.
      await isolated.run("zellij", ["kill-all-sessions", "--yes"]);
      await isolated.run("zellij", ["delete-all-sessions", "--yes", "--force"]);
      await Deno.remove(root, { recursive: true });
    }
  },
});
