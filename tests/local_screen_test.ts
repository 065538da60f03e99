/**
 * The local commands over GNU screen, end to end: `sessions --backend
 * screen …` as its own process, with a private SCREENDIR.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runSessions, type SessionsResult } from "./helpers/sessions.ts";
import { assertOk, assertRefused, waitUntil } from "./helpers/assert.ts";
import { PrivateTmux } from "./helpers/tmux.ts";
import {
  killSessionProcess,
  PrivateScreen,
  sessionShellPid,
} from "./helpers/screen.ts";

interface Fixture {
  screen: PrivateScreen;
  workDir: string;
  sessions(args: string[]): Promise<SessionsResult>;
}

async function withScreen(body: (fixture: Fixture) => Promise<void>) {
  const screen = await PrivateScreen.create();
  const workDir = await Deno.makeTempDir({ prefix: "sessions-screen-cli-" });
  const sessions = (args: string[]) =>
    runSessions(["--backend", "screen", ...args], {
      env: screen.env(),
      cwd: workDir,
    });
  try {
    await body({ screen, workDir, sessions });
  } finally {
    const alive = await screen.dispose();
    await Deno.remove(workDir, { recursive: true });
    assert.deepEqual(alive, [], "screen processes left behind");
  }
}

Deno.test("sessions over screen: create, list, --json, kill", async (t) => {
  await withScreen(async ({ screen, workDir, sessions }) => {
    await t.step("no sessions: empty list, exit 0", async () => {
      const result = await sessions(["list", "--json"]);
      assertOk(result);
      assert.deepEqual(JSON.parse(result.stdout), []);
    });

    await t.step("create is quiet and makes exactly that session", async () => {
      assertOk(await sessions(["create", "dev", "--shell", "/bin/sh"]));
      assertOk(await sessions(["create", "dev2", "--shell", "/bin/sh"]));
      assert.deepEqual(await screen.names(), ["dev", "dev2"]);
    });

    await t.step("list --json has the documented fields", async () => {
      const result = await sessions(["list", "--json"]);
      assertOk(result);
      const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
      // By name; screen itself lists the newest (dev2) first.
      assert.deepEqual(rows.map((row) => row.name), ["dev", "dev2"]);
      const dev = rows.find((row) => row.name === "dev");
      assert.ok(dev, result.stdout);
      assert.deepEqual(Object.keys(dev).sort(), [
        "backend",
        "clients",
        "created",
        "current",
        "directory",
        "name",
        "state",
        "windows",
      ]);
      assert.equal(dev.backend, "screen");
      assert.equal(dev.state, "detached");
      assert.equal(dev.current, false);
      assert.equal(dev.windows, null);
      assert.equal(dev.clients, null);
      assert.equal(dev.directory, null);
      assert.equal(typeof dev.created, "string");
      assert.equal(
        new Date(dev.created as string).toISOString(),
        dev.created,
      );
    });

    await t.step("the table lists both", async () => {
      const result = await sessions(["list"]);
      assertOk(result);
      assert.match(result.stdout, /^\s*dev\s+screen\s+detached/m);
      assert.match(result.stdout, /^\s*dev2\s+screen\s+detached/m);
    });

    await t.step("detach NAME of a detached session is fine", async () => {
      assertOk(await sessions(["detach", "dev"]));
    });

    await t.step("kill dev leaves dev2", async () => {
      assertOk(await sessions(["kill", "dev"]));
      assert.deepEqual(await screen.names(), ["dev2"]);
    });

    await t.step("kill of a missing name: not found, exit 3", async () => {
      assertRefused(await sessions(["kill", "dev"]), 3, /'dev'/);
      assertRefused(await sessions(["kill", "de"]), 3, /'de'/);
      assert.deepEqual(await screen.names(), ["dev2"]);
    });

    await t.step("the session started in the requested directory", async () => {
      const inner = join(workDir, "inner dir");
      await Deno.mkdir(inner);
      assertOk(
        await sessions([
          "create",
          "here",
          "--directory",
          inner,
          "--shell",
          "/bin/sh",
        ]),
      );
      const entry = (await screen.entries()).find((e) => e.name === "here");
      assert.ok(entry);
      const shell = await sessionShellPid(entry.pid);
      assert.equal(await Deno.readLink(`/proc/${shell}/cwd`), inner);
    });

    await t.step("kill the rest", async () => {
      assertOk(await sessions(["kill", "dev2"]));
      assertOk(await sessions(["kill", "here"]));
      assert.deepEqual(await screen.entries(), []);
    });
  });
});

Deno.test("sessions over screen: refusals do nothing", async (t) => {
  await withScreen(async ({ screen, workDir, sessions }) => {
    assertOk(await sessions(["create", "dev", "--shell", "/bin/sh"]));

    await t.step("a taken name: exit 4", async () => {
      assertRefused(
        await sessions(["create", "dev", "--shell", "/bin/sh"]),
        4,
        /'dev' already exists/,
      );
    });

    await t.step("invalid names: exit 2", async () => {
      for (
        const name of ["", "a/b", "x;touch /tmp/x", "tab\tname", "n".repeat(81)]
      ) {
        assertRefused(
          await sessions(["create", name, "--shell", "/bin/sh"]),
          2,
          /name/,
        );
      }
    });

    await t.step("a missing directory or a file: exit 2", async () => {
      assertRefused(
        await sessions(["create", "x", "--directory", join(workDir, "nope")]),
        2,
        /does not exist/,
      );
      await Deno.writeTextFile(join(workDir, "file"), "");
      assertRefused(
        await sessions(["create", "x", "--directory", join(workDir, "file")]),
        2,
        /not a directory/,
      );
    });

    await t.step("a shell that is not executable: exit 2", async () => {
      assertRefused(
        await sessions(["create", "x", "--shell", join(workDir, "file")]),
        2,
        /not an executable/,
      );
    });

    await t.step("attach without a terminal: exit 5", async () => {
      assertRefused(await sessions(["attach", "dev"]), 5, /terminal/);
    });

    await t.step("detach outside any session: exit 5", async () => {
      assertRefused(await sessions(["detach"]), 5, /not inside/);
    });

    assert.deepEqual(await screen.names(), ["dev"]);
  });
});

Deno.test("sessions over screen: metacharacter names execute nothing", async () => {
  await withScreen(async ({ screen, workDir, sessions }) => {
    const names = [
      "x;touch pwned",
      "$(touch pwned)",
      "`touch pwned`",
      `q'u"o\\te`,
      "a b | touch pwned &",
    ];
    for (const name of names) {
      assertOk(await sessions(["create", name, "--shell", "/bin/sh"]));
    }
    const result = await sessions(["list", "--json"]);
    assertOk(result);
    assert.deepEqual(
      (JSON.parse(result.stdout) as { name: string }[]).map((row) => row.name)
        .sort(),
      [...names].sort(),
    );
    for (const name of names) assertOk(await sessions(["kill", name]));
    assert.deepEqual(await screen.entries(), []);
    await assert.rejects(
      Deno.stat(join(workDir, "pwned")),
      Deno.errors.NotFound,
    );
  });
});

Deno.test("sessions over screen: --all shows dead sessions", async () => {
  await withScreen(async ({ screen, sessions }) => {
    assertOk(await sessions(["create", "doomed", "--shell", "/bin/sh"]));
    const [entry] = await screen.entries();
    await killSessionProcess(entry.pid);
    await waitUntil(async () => (await screen.entries())[0]?.state === "dead");

    const live = await sessions(["list", "--json"]);
    assertOk(live);
    assert.deepEqual(JSON.parse(live.stdout), []);
    const all = await sessions(["list", "--all", "--json"]);
    assertOk(all);
    assert.deepEqual(
      (JSON.parse(all.stdout) as { name: string; state: string }[]).map((
        row,
      ) => [row.name, row.state]),
      [["doomed", "dead"]],
    );
    // Its name stays taken until kill removes the dead socket.
    assertRefused(
      await sessions(["create", "doomed", "--shell", "/bin/sh"]),
      4,
      /'doomed' already exists \(it is a dead screen session; remove it with: sessions kill --backend screen -- doomed\)/,
    );
    assertOk(await sessions(["kill", "doomed"]));
    assert.deepEqual(await screen.entries(), []);
  });
});

Deno.test("a SCREENDIR screen refuses costs list only screen's rows", async (t) => {
  const screen = await PrivateScreen.create();
  const tmux = await PrivateTmux.create();
  try {
    await tmux.ok(["new-session", "-d", "-s", "work"]);
    // screen refuses a socket directory other users can read.
    await Deno.chmod(screen.dir, 0o755);
    const env = { ...screen.env(), ...tmux.env(), ZELLIJ: "" };
    const screenLines = (stderr: string) =>
      stderr.split("\n").filter((line) => /screen/.test(line));
    const assertScreenWarning = (stderr: string) => {
      assert.match(stderr, /^(sessions: [^\n]*\n)+$/);
      const [line, ...more] = screenLines(stderr);
      assert.deepEqual(more, [], stderr);
      assert.match(
        line,
        new RegExp(
          `^sessions: screen could not list sessions: Directory ${screen.dir} must have mode 700 \\(.*chmod 700.*\\)$`,
        ),
      );
    };

    await t.step("the table still has tmux's session; exit 1", async () => {
      const result = await runSessions(["list"], { env });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^\s+NAME\s+BACKEND/);
      assert.match(result.stdout, /^\s+work\s+tmux\s+detached/m);
      assert.doesNotMatch(result.stdout, /screen/);
      assertScreenWarning(result.stderr);
    });

    await t.step("--json stays one valid array, by both paths", async () => {
      // `--` sends the same call through commander instead of the fast path.
      for (const args of [["list", "--json"], ["list", "--json", "--"]]) {
        const result = await runSessions(args, { env });
        assert.equal(result.code, 1, result.stderr);
        const rows = JSON.parse(result.stdout) as {
          name: string;
          backend: string;
        }[];
        // zellij, where installed, is not confined by this test.
        assert.deepEqual(
          rows.filter((row) => row.backend !== "zellij").map((row) => row.name),
          ["work"],
        );
        assertScreenWarning(result.stderr);
      }
    });

    await t.step("--backend screen: an error, nothing listed", async () => {
      const result = await runSessions(["list", "--backend", "screen"], {
        env,
      });
      assertRefused(result, 1, /^sessions: screen could not list sessions/);
    });

    await t.step("--backend tmux is not bothered", async () => {
      const result = await runSessions(["list", "--backend", "tmux"], { env });
      assertOk(result);
      assert.match(result.stdout, /^\s+work\s+tmux/m);
    });

    await t.step("tmux failing too: a line for each, empty JSON", async () => {
      // tmux refuses a socket directory that others may write to.
      const unsafe = await Deno.makeTempDir({ dir: "/tmp", prefix: "tmx-" });
      try {
        await Deno.mkdir(join(unsafe, `tmux-${Deno.uid()}`));
        await Deno.chmod(join(unsafe, `tmux-${Deno.uid()}`), 0o777);
        const result = await runSessions(["list", "--json"], {
          env: { ...env, TMUX_TMPDIR: unsafe },
        });
        assert.equal(result.code, 1, result.stderr);
        assert.deepEqual(
          (JSON.parse(result.stdout) as { backend: string }[]).filter((row) =>
            row.backend !== "zellij"
          ),
          [],
        );
        assertScreenWarning(result.stderr);
        assert.match(
          result.stderr,
          /^sessions: tmux could not list sessions: .*unsafe permissions/m,
        );
      } finally {
        await Deno.remove(unsafe, { recursive: true });
      }
    });

    await t.step("mode 700 again: exit 0, no warning", async () => {
      await Deno.chmod(screen.dir, 0o700);
      const result = await runSessions(["list", "--json"], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(screenLines(result.stderr), []);
    });
  } finally {
    await Deno.chmod(screen.dir, 0o700);
    await tmux.dispose();
    assert.deepEqual(await screen.dispose(), []);
  }
});

Deno.test("sessions over screen: one name held twice by screen is named as such, with both handles", async () => {
  await withScreen(async ({ screen, sessions }) => {
    // screen itself takes a name twice; sessions refuses to.
    await screen.screen(["-dmS", "dup", "/bin/sh"]);
    await screen.screen(["-dmS", "dup", "/bin/sh"]);
    await waitUntil(async () => (await screen.entries()).length === 2);
    const ids = (await screen.entries()).map((entry) => entry.id).sort();
    const refused = await sessions(["kill", "dup"]);
    assertRefused(
      refused,
      4,
      /^sessions: screen holds 2 sessions named 'dup': /,
    );
    for (const id of ids) {
      assert.ok(refused.stderr.includes(id), refused.stderr);
    }
    assert.match(refused.stderr, /screen -S \d+\.dup -X quit/);
    assert.equal((await screen.entries()).length, 2);
  });
});
