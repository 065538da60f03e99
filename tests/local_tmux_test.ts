/**
 * The local commands over tmux, end to end: `sessions …` as its own process
 * against a private tmux server (and a private, empty SCREENDIR, since
 * `list` covers every installed backend).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runSessions, type SessionsResult } from "./helpers/sessions.ts";
import { PrivateTmux } from "./helpers/tmux.ts";
import { assertOk, assertRefused, waitUntil } from "./helpers/assert.ts";
import { PrivateScreen } from "./helpers/screen.ts";
import { Pty } from "./helpers/pty.ts";

interface Fixture {
  tmux: PrivateTmux;
  screen: PrivateScreen;
  workDir: string;
  env: Record<string, string>;
  sessions(
    args: string[],
    extraEnv?: Record<string, string>,
  ): Promise<SessionsResult>;
}

async function withTmux(body: (fixture: Fixture) => Promise<void>) {
  const tmux = await PrivateTmux.create();
  const screen = await PrivateScreen.create();
  const workDir = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "sessions-tmux-cli-" }),
  );
  const env = {
    ...tmux.env(),
    ...screen.env(),
    ZELLIJ: "",
    SHELL: "/bin/sh",
  };
  const sessions = (args: string[], extraEnv: Record<string, string> = {}) =>
    runSessions(args, { env: { ...env, ...extraEnv }, cwd: workDir });
  try {
    await body({ tmux, screen, workDir, env, sessions });
  } finally {
    await tmux.dispose();
    const alive = await screen.dispose();
    await Deno.remove(workDir, { recursive: true });
    assert.deepEqual(alive, [], "screen processes left behind");
  }
}

interface JsonRow {
  name: string;
  backend: string;
  state: string;
  windows: number | null;
  clients: number | null;
  created: string | null;
  directory: string | null;
  current: boolean;
}

async function listJson(
  sessions: Fixture["sessions"],
  extraEnv: Record<string, string> = {},
): Promise<JsonRow[]> {
  const result = await sessions(["list", "--json"], extraEnv);
  assertOk(result);
  return JSON.parse(result.stdout);
}

Deno.test("sessions over tmux: list, create, --json, kill", async (t) => {
  await withTmux(async ({ tmux, workDir, sessions }) => {
    await t.step("no server: empty table and empty JSON, exit 0", async () => {
      const table = await sessions(["list"]);
      assertOk(table);
      assert.equal(table.stdout, "");
      assert.deepEqual(await listJson(sessions), []);
    });

    await t.step("create is quiet and makes exactly that session", async () => {
      assertOk(await sessions(["create", "dev"]));
      assertOk(await sessions(["create", "dev2", "--directory", "/"]));
      assert.deepEqual((await tmux.sessionNames()).sort(), ["dev", "dev2"]);
    });

    await t.step("--json has the documented fields and types", async () => {
      const rows = await listJson(sessions);
      assert.equal(rows.length, 2);
      const dev = rows.find((row) => row.name === "dev")!;
      assert.deepEqual(Object.keys(dev), [
        "name",
        "backend",
        "state",
        "windows",
        "clients",
        "created",
        "directory",
        "current",
      ]);
      const { created, ...rest } = dev;
      assert.deepEqual(rest, {
        name: "dev",
        backend: "tmux",
        state: "detached",
        windows: 1,
        clients: 0,
        directory: workDir,
        current: false,
      });
      assert.match(created!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(new Date(created!).toISOString(), created);
      assert.equal(
        rows.find((row) => row.name === "dev2")?.directory,
        "/",
      );
    });

    await t.step("the table has a header and a row per session", async () => {
      const result = await sessions(["list"]);
      assertOk(result);
      const lines = result.stdout.trimEnd().split("\n");
      assert.match(
        lines[0],
        /^\s+NAME\s+BACKEND\s+STATE\s+WINDOWS\s+CLIENTS\s+AGE\s+DIRECTORY$/,
      );
      assert.equal(lines.length, 3);
      assert.match(
        lines[1],
        /^\s+dev\s+tmux\s+detached\s+1\s+0\s+\d+[smhd]\s+/,
      );
      // Not a terminal: no colour codes.
      assert.equal(result.stdout.includes("\x1b"), false);
    });

    await t.step("the session named by $TMUX is marked current", async () => {
      const socket = (await tmux.ok([
        "display-message",
        "-p",
        "-t",
        "=dev2:",
        "#{socket_path},#{pid},#{session_id}",
      ])).trim().replace(",$", ",");
      const rows = await listJson(sessions, { TMUX: socket });
      assert.deepEqual(
        rows.filter((row) => row.current).map((row) => row.name),
        ["dev2"],
      );
      const table = await sessions(["list"], { TMUX: socket });
      assert.match(table.stdout, /^\*\s+dev2\s/m);
    });

    await t.step("kill takes the exact name only, never a prefix", async () => {
      assertOk(await sessions(["kill", "dev"]));
      assert.deepEqual(await tmux.sessionNames(), ["dev2"]);
      assertRefused(
        await sessions(["kill", "dev"]),
        3,
        /no session named 'dev'/,
      );
      assertRefused(await sessions(["kill", "de"]), 3, /no session named 'de'/);
      assert.deepEqual(await tmux.sessionNames(), ["dev2"]);
    });

    await t.step(
      "SESSIONS_BACKEND and --backend select the backend",
      async () => {
        const viaEnv = await listJson(sessions, { SESSIONS_BACKEND: "tmux" });
        assert.deepEqual(viaEnv.map((row) => row.name), ["dev2"]);
        const screenOnly = await sessions([
          "--backend",
          "screen",
          "list",
          "--json",
        ]);
        assertOk(screenOnly);
        assert.deepEqual(JSON.parse(screenOnly.stdout), []);
      },
    );
  });
});

Deno.test("sessions over tmux: every refusal of create leaves nothing behind", async (t) => {
  await withTmux(async ({ tmux, workDir, sessions }) => {
    assertOk(await sessions(["create", "taken"]));
    await Deno.writeTextFile(join(workDir, "not-executable"), "", {
      mode: 0o644,
    });
    const refusals: [string, string[], number, RegExp][] = [
      [
        "an existing name",
        ["create", "taken"],
        4,
        /already exists \(attach to it with: sessions attach --backend tmux -- taken\)/,
      ],
      ["an empty name", ["create", ""], 2, /cannot be empty/],
      ["a dot", ["create", "a.b"], 2, /'\.' or ':'/],
      ["a colon", ["create", "a:b"], 2, /'\.' or ':'/],
      ["a slash", ["create", "a/b"], 2, /'\/'/],
      ["a tab", ["create", "a\tb"], 2, /control characters/],
      ["a newline", ["create", "a\nb"], 2, /control characters/],
      ["a C1 control (CSI)", ["create", "c1\u009bx"], 2, /control characters/],
      // tmux would store them escaped as octal: created, then undone.
      [
        "an unassigned code point",
        ["create", "x\u0378"],
        2,
        /tmux would store the name 'x\u0378' as 'x\\315\\270'/,
      ],
      [
        "a line separator",
        ["create", "a\u2028b"],
        2,
        /tmux would store the name 'a\\u\{2028\}b' as 'a\\342\\200\\250b'/,
      ],
      ["a long name", ["create", "n".repeat(200)], 2, /longer than/],
      [
        "an empty --directory",
        ["create", "fresh", "--directory", ""],
        2,
        /--directory is empty/,
      ],
      [
        "a missing directory",
        ["create", "fresh", "--directory", join(workDir, "missing")],
        2,
        /does not exist/,
      ],
      [
        "a file as directory",
        ["create", "fresh", "--directory", join(workDir, "not-executable")],
        2,
        /is not a directory/,
      ],
      [
        "a path through a file as directory",
        [
          "create",
          "fresh",
          "--directory",
          join(workDir, "not-executable", "sub"),
        ],
        2,
        /cannot use directory .*: Not a directory \(choose another/,
      ],
      [
        "a directory with a newline",
        ["create", "fresh", "--directory", join(workDir, "a\nb")],
        2,
        /contains a control character/,
      ],
      [
        "a shell that is not executable",
        ["create", "fresh", "--shell", join(workDir, "not-executable")],
        2,
        /not an executable file/,
      ],
      [
        "a shell that does not exist",
        ["create", "fresh", "--shell", "no-such-shell-here"],
        2,
        /not an executable file/,
      ],
      [
        "--attach without a terminal",
        ["create", "fresh", "--attach"],
        5,
        /needs a terminal/,
      ],
      [
        "attach --create without a terminal",
        ["attach", "fresh", "--create"],
        5,
        /needs a terminal/,
      ],
    ];
    for (const [what, args, code, message] of refusals) {
      await t.step(`refuses ${what}`, async () => {
        assertRefused(await sessions(args), code, message);
        assert.deepEqual(await tmux.sessionNames(), ["taken"]);
      });
    }
    await t.step(
      "refuses a SHELL that is not executable, naming $SHELL",
      async () => {
        assertRefused(
          await sessions(["create", "fresh"], { SHELL: "/nonexistent" }),
          2,
          /shell '\/nonexistent' \(from \$SHELL\) is not an executable file \(fix SHELL, or pass/,
        );
        assert.deepEqual(await tmux.sessionNames(), ["taken"]);
      },
    );

    await t.step("refuses a backend that is not installed", async () => {
      const zellijInstalled = await new Deno.Command("sh", {
        args: ["-c", "command -v zellij"],
        stdout: "null",
      }).output();
      if (zellijInstalled.code === 0) return; // this machine has it; nothing to refuse
      assertRefused(
        await sessions(["--backend", "zellij", "create", "fresh"]),
        5,
        // zellij's own hint, not a package that Debian does not have.
        /zellij is not installed \(install zellij 0\.40 or later/,
      );
      assert.deepEqual(await tmux.sessionNames(), ["taken"]);
    });

    await t.step(
      "$SHELL is the default shell; a bad one is refused",
      async () => {
        assertRefused(
          await sessions(["create", "fresh"], { SHELL: "/nonexistent/shell" }),
          2,
          /shell '\/nonexistent\/shell'/,
        );
        assert.deepEqual(await tmux.sessionNames(), ["taken"]);
      },
    );
  });
});

Deno.test("sessions over tmux: names full of shell syntax run nothing", async () => {
  await withTmux(async ({ tmux, workDir, sessions }) => {
    const names = [
      "x;touch pwned1",
      "`touch pwned3`",
      `q'u"ote;touch pwned4`,
      "a b&&touch pwned5",
      "|touch pwned6",
      ">pwned7",
      "-dash",
      "=eq",
      "ünï 日本",
    ];
    for (const name of names) {
      assertOk(await sessions(["create", "--directory", workDir, "--", name]));
    }
    const listed = (await listJson(sessions)).map((row) => row.name).sort();
    assert.deepEqual(listed, [...names].sort());
    assert.deepEqual((await tmux.sessionNames()).sort(), [...names].sort());
    const table = await sessions(["list"]);
    for (const name of names) assert.ok(table.stdout.includes(name), name);
    for (const name of names) assertOk(await sessions(["kill", "--", name]));
    assert.deepEqual(await tmux.sessionNames(), []);
    // tmux would rename these (a '/' no backend accepts; '$' and '\' tmux stores escaped).
    const marker = join(workDir, "PWNED");
    for (
      const [name, message] of [
        [`x;touch ${marker}`, /'\/'/],
        ["$(touch pwned2)", /'\$' or '\\'/],
        ["back\\slash", /'\$' or '\\'/],
        ["#(touch pwned8)", /'#'/],
        ["#{session_id}", /'#'/],
      ] as const
    ) {
      assertRefused(await sessions(["create", "--", name]), 2, message);
    }
    assert.deepEqual(await tmux.sessionNames(), []);
    const left = [...Deno.readDirSync(workDir)].map((entry) => entry.name);
    assert.deepEqual(left, [], "something ran a command from a name");
  });
});

Deno.test("sessions over tmux: detach and attach from outside", async (t) => {
  await withTmux(async ({ tmux, env, sessions }) => {
    assertOk(await sessions(["create", "watched"]));
    assertOk(await sessions(["create", "idle"]));
    const client = await Pty.start({
      command: "tmux attach-session -t =watched",
      env,
    });
    try {
      await t.step("a client attached shows as attached", async () => {
        await waitUntil(async () =>
          (await listJson(sessions)).find((row) => row.name === "watched")
            ?.clients === 1
        );
        const row = (await listJson(sessions)).find((row) =>
          row.name === "watched"
        );
        assert.equal(row?.state, "attached");
      });

      await t.step(
        "detach NAME detaches every client of that session",
        async () => {
          assertOk(await sessions(["detach", "watched"]));
          // What detach NAME owes: no client is left and the attached
          // client program ends. (Its exit status is tmux's business, and
          // tmux records it late on a loaded machine.)
          await waitUntil(async () =>
            (await listJson(sessions)).find((row) => row.name === "watched")
              ?.clients === 0
          );
          await waitUntil(() => client.ended(), 30_000);
          assert.deepEqual((await tmux.sessionNames()).sort(), [
            "idle",
            "watched",
          ]);
        },
      );

      await t.step(
        "detach NAME of a session without clients is fine",
        async () => {
          assertOk(await sessions(["detach", "idle"]));
        },
      );

      await t.step(
        "detach without NAME outside any session is refused",
        async () => {
          assertRefused(await sessions(["detach"]), 5, /not inside/);
        },
      );

      await t.step(
        "detach or attach of a missing session is not found",
        async () => {
          assertRefused(
            await sessions(["detach", "nope"]),
            3,
            /no session named/,
          );
        },
      );

      await t.step("attach without a terminal is refused", async () => {
        assertRefused(
          await sessions(["attach", "idle"]),
          5,
          /needs a terminal/,
        );
      });
    } finally {
      await client.dispose();
    }
  });
});

Deno.test("sessions over tmux and screen: one name in both is a conflict", async () => {
  await withTmux(async ({ tmux, screen, sessions }) => {
    assertOk(await sessions(["--backend", "tmux", "create", "both"]));
    assertOk(await sessions(["--backend", "screen", "create", "both"]));
    assertRefused(
      await sessions(["kill", "both"]),
      4,
      /tmux, screen.*--backend/,
    );
    assert.deepEqual(await tmux.sessionNames(), ["both"]);
    assert.deepEqual(await screen.names(), ["both"]);
    const rows = await listJson(sessions);
    assert.deepEqual(
      rows.map((row) => `${row.backend}:${row.name}`),
      ["tmux:both", "screen:both"],
    );
    assertOk(await sessions(["--backend", "screen", "kill", "both"]));
    assert.deepEqual(await screen.names(), []);
    assertOk(await sessions(["kill", "both"]));
    assert.deepEqual(await tmux.sessionNames(), []);
  });
});

Deno.test("sessions over tmux: a session named like an id ('$1') is killed, not the session with that id", async () => {
  await withTmux(async ({ tmux, sessions }) => {
    assertOk(await sessions(["create", "keep"])); // $0
    assertOk(await sessions(["create", "victim"])); // $1
    // `create` refuses '$', but tmux itself takes such a name.
    await tmux.ok(["new-session", "-d", "-s", "$1"]); // $2
    assertOk(await sessions(["kill", "--", "$1"]));
    assert.deepEqual((await tmux.sessionNames()).sort(), ["keep", "victim"]);
  });
});

Deno.test("sessions over tmux: without a UTF-8 locale (LC_ALL=C, as under cron) every command still works", async () => {
  await withTmux(async ({ tmux, workDir, env }) => {
    // TMUX must be absent, not empty: tmux takes any TMUX for a UTF-8 client.
    const { TMUX: _, ...inherited } = Deno.env.toObject();
    const { TMUX: __, ...fixture } = env;
    const base = { ...inherited, ...fixture, NO_COLOR: "1" };
    const run = (args: string[], locale: Record<string, string>) =>
      runSessions(args, {
        env: { ...base, ...locale },
        clearEnv: true,
        cwd: workDir,
      });
    // The server starts in the user's UTF-8 locale; a job in the C locale talks to it.
    const cLocale = { LC_ALL: "C", LC_CTYPE: "C", LANG: "C" };
    assertOk(await run(["create", "café"], { LC_ALL: "C.UTF-8" }));
    assertOk(await run(["create", "plain"], cLocale));
    const listed = await run(["list", "--json"], cLocale);
    assertOk(listed);
    const rows: JsonRow[] = JSON.parse(listed.stdout);
    assert.deepEqual(rows.map((row) => row.name).sort(), ["café", "plain"]);
    assertOk(await run(["kill", "café"], cLocale));
    assert.deepEqual(await tmux.sessionNames(), ["plain"]);
  });
});

Deno.test("sessions over tmux: a shell whose path holds '=' is started as that shell", async () => {
  await withTmux(async ({ tmux, workDir, sessions }) => {
    const dir = join(workDir, "a=b");
    await Deno.mkdir(dir);
    const shell = join(dir, "sh");
    await Deno.copyFile("/bin/sh", shell);
    await Deno.chmod(shell, 0o755);
    assertOk(await sessions(["create", "eq", "--shell", shell]));
    // env(1) would have taken the path for a variable, printed the environment and ended the session.
    await waitUntil(async () => {
      const command = await tmux.ok([
        "display-message",
        "-p",
        "-t",
        "=eq:",
        "#{pane_current_command}",
      ]);
      return command.trim() === "sh";
    }, 10_000);
    assert.deepEqual(await tmux.sessionNames(), ["eq"]);
  });
});

Deno.test("sessions over tmux: the hint for a taken name is a command that works as typed", async () => {
  await withTmux(async ({ sessions }) => {
    assertOk(await sessions(["create", "two words"]));
    assertRefused(
      await sessions(["create", "two words"]),
      4,
      /\(attach to it with: sessions attach --backend tmux -- 'two words'\)\n$/,
    );
  });
});
