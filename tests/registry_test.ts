/** Which backend each command uses, with a fake PATH and environment. */
import assert from "node:assert/strict";
import {
  parsePsTable,
  type ProcessRunner,
  systemRunner,
} from "../backends/process.ts";
import { Backends } from "../backends/registry.ts";
import { BackendError, type BackendName } from "../backends/types.ts";

function fakeRunner(
  installed: BackendName[],
  env: Record<string, string> = {},
): ProcessRunner {
  return {
    run: () => Promise.reject(new Error("no process may run here")),
    interactive: () => Promise.reject(new Error("no process may run here")),
    env: (name) => env[name],
    which: (command) =>
      installed.some((name) => name === command) ? `/usr/bin/${command}` : null,
  };
}

function kindOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof BackendError) return error.kind;
    throw error;
  }
  return "no error";
}

Deno.test("create prefers the backend you are inside, else tmux, zellij, screen", () => {
  const all: BackendName[] = ["screen", "zellij", "tmux"];
  assert.equal(new Backends(fakeRunner(all)).forCreating().name, "tmux");
  assert.equal(
    new Backends(fakeRunner(["screen", "zellij"])).forCreating().name,
    "zellij",
  );
  assert.equal(
    new Backends(fakeRunner(["screen"])).forCreating().name,
    "screen",
  );
  assert.equal(
    new Backends(fakeRunner(all, { STY: "123.work" })).forCreating().name,
    "screen",
  );
  assert.equal(
    new Backends(fakeRunner(all, { ZELLIJ: "0" })).forCreating().name,
    "zellij",
  );
  // Empty variables (as tests and some shells leave them) mean "not inside".
  assert.equal(
    new Backends(fakeRunner(all, { TMUX: "", STY: "1.x" })).forCreating().name,
    "screen",
  );
  // Inside a backend that is not installed here: the usual order.
  assert.equal(
    new Backends(fakeRunner(["tmux"], { STY: "1.x" })).forCreating().name,
    "tmux",
  );
  assert.equal(
    new Backends(fakeRunner(all, { STY: "1.x" }), "tmux").forCreating().name,
    "tmux",
  );
  assert.equal(
    kindOf(() => new Backends(fakeRunner([])).forCreating()),
    "not-installed",
  );
  assert.equal(
    kindOf(() => new Backends(fakeRunner(["tmux"]), "screen").forCreating()),
    "not-installed",
  );
});

Deno.test("list covers every installed backend, or only the requested one", () => {
  const names = (backends: Backends) =>
    backends.forListing().map((backend) => backend.name);
  assert.deepEqual(names(new Backends(fakeRunner(["screen", "tmux"]))), [
    "tmux",
    "screen",
  ]);
  assert.deepEqual(names(new Backends(fakeRunner([]))), []);
  assert.deepEqual(
    names(new Backends(fakeRunner(["screen", "tmux"]), "screen")),
    ["screen"],
  );
  assert.equal(
    kindOf(() => new Backends(fakeRunner(["tmux"]), "zellij").forListing()),
    "not-installed",
  );
});

Deno.test("nested multiplexers: the one whose server is the nearest ancestor is the one inside", () => {
  const all: BackendName[] = ["tmux", "screen", "zellij"];
  // screen started in a tmux pane keeps TMUX; its windows are children of the SCREEN process.
  const env = { TMUX: "/tmp/tmux-0/default,100,2", STY: "200.inner" };
  const withAncestors = (pids: [number, string][]) => ({
    ...fakeRunner(all, env),
    ancestors: () => pids.map(([pid, name]) => ({ pid, name })),
  });
  const screenInTmux = withAncestors([[300, "bash"], [200, "screen"], [
    150,
    "bash",
  ], [100, "tmux: server"]]);
  assert.equal(new Backends(screenInTmux).insideName(), "screen");
  assert.equal(new Backends(screenInTmux).forCurrent().name, "screen");
  const tmuxInScreen = withAncestors([[300, "bash"], [100, "tmux: server"], [
    200,
    "screen",
  ]]);
  assert.equal(new Backends(tmuxInScreen).forCurrent().name, "tmux");
  // zellij's server is found by its name: ZELLIJ names no process.
  const zellijInTmux = {
    ...fakeRunner(all, { TMUX: "/tmp/t,100,2", ZELLIJ: "0" }),
    ancestors:
      () => [{ pid: 300, name: "bash" }, { pid: 250, name: "zellij" }, {
        pid: 100,
        name: "tmux: server",
      }],
  };
  assert.equal(new Backends(zellijInTmux).forCurrent().name, "zellij");
  // Where ancestors cannot be read: the fixed order, tmux first.
  assert.equal(new Backends(fakeRunner(all, env)).forCurrent().name, "tmux");
});

Deno.test("systemRunner.ancestors: this process's parent first, up the real process tree", () => {
  const ancestors = systemRunner.ancestors!();
  assert.equal(ancestors[0]?.pid, Deno.ppid);
  assert.ok(
    ancestors.every((ancestor) => ancestor.pid > 1 && ancestor.name !== ""),
  );
});

Deno.test("parsePsTable reads procps's and macOS's ps, names without their path", () => {
  // procps 4 (Debian), `ps -A -o pid= -o ppid= -o comm=`:
  const procps = parsePsTable(
    "      1       0 process_api\n   9148    7975 sshd\n  10214       1 tmux: server\n",
  );
  assert.deepEqual(procps.get(10214), { parent: 1, name: "tmux: server" });
  assert.deepEqual(procps.get(9148), { parent: 7975, name: "sshd" });
  // macOS prints the command's path.
  const mac = parsePsTable("  501   1 /opt/homebrew/bin/zellij\n");
  assert.deepEqual(mac.get(501), { parent: 1, name: "zellij" });
});

Deno.test("detach without a name needs to be inside (the requested) backend", () => {
  const all: BackendName[] = ["tmux", "screen", "zellij"];
  assert.equal(
    new Backends(fakeRunner(all, { TMUX: "/s,1,0" })).forCurrent().name,
    "tmux",
  );
  assert.equal(
    kindOf(() => new Backends(fakeRunner(all)).forCurrent()),
    "not-inside",
  );
  assert.equal(
    kindOf(() =>
      new Backends(fakeRunner(all, { TMUX: "/s,1,0" }), "screen").forCurrent()
    ),
    "not-inside",
  );
});

Deno.test("listAvailable: a failing backend is returned beside the others' sessions", async (t) => {
  // tmux has no server (an empty list), screen refuses its directory, zellij answers garbage.
  const runner: ProcessRunner = {
    ...fakeRunner(["tmux", "screen", "zellij"]),
    run: (command) =>
      Promise.resolve(
        command === "tmux"
          ? { code: 1, stdout: "", stderr: "no server running on /tmp/x\n" }
          : command === "screen"
          ? {
            code: 1,
            stdout: "Directory /s must have mode 700.\n",
            stderr: "",
          }
          : { code: 1, stdout: "", stderr: "zellij broke\n" },
      ),
  };

  await t.step("every failure, in backend order, none thrown", async () => {
    const { sessions, failures } = await new Backends(runner).listAvailable(
      false,
    );
    assert.deepEqual(sessions, []);
    assert.deepEqual(
      failures.map(({ backend, error }) => [backend, error.message]),
      [
        ["zellij", "zellij could not list sessions: zellij broke"],
        [
          "screen",
          "screen could not list sessions: Directory /s must have mode 700",
        ],
      ],
    );
    assert.match(failures[1].error.hint ?? "", /chmod 700/);
  });

  await t.step("a requested backend's failure is thrown", async () => {
    await assert.rejects(
      new Backends(runner, "screen").listAvailable(false),
      (error) =>
        error instanceof BackendError && /mode 700/.test(error.message),
    );
  });

  await t.step(
    "a bug is thrown, not reported as a backend's failure",
    async () => {
      const buggy: ProcessRunner = {
        ...runner,
        run: () => Promise.reject(new TypeError("bug")),
      };
      await assert.rejects(
        new Backends(buggy).listAvailable(false),
        TypeError,
      );
    },
  );
});

Deno.test("find: a backend that cannot be listed may hold the name too", async (t) => {
  // tmux holds 'dev'; screen refuses its directory.
  const runner: ProcessRunner = {
    ...fakeRunner(["tmux", "screen"]),
    run: (command) =>
      Promise.resolve(
        command === "tmux"
          ? {
            code: 0,
            stdout: "$1\t0\t1795482249\t1\t/tmp/t/default\t/work\tdev\n",
            stderr: "",
          }
          : {
            code: 1,
            stdout: "Directory /s must have mode 700.\n",
            stderr: "",
          },
      ),
  };

  await t.step(
    "found elsewhere: refused, naming both and --backend",
    async () => {
      await assert.rejects(
        new Backends(runner).find("dev"),
        (error) => {
          assert.ok(error instanceof BackendError);
          assert.equal(
            error.message,
            "cannot tell whether screen also has a session named 'dev': " +
              "screen could not list sessions: Directory /s must have mode 700",
          );
          assert.equal(
            error.hint,
            "choose the tmux one with --backend tmux, or fix screen: " +
              "screen accepts only a private socket directory: chmod 700 it, or set SCREENDIR to another",
          );
          return true;
        },
      );
    },
  );

  await t.step("found nowhere: the backend's own error", async () => {
    await assert.rejects(
      new Backends(runner).find("other"),
      (error) =>
        error instanceof BackendError &&
        error.message ===
          "screen could not list sessions: Directory /s must have mode 700",
    );
  });

  await t.step("with --backend tmux: found", async () => {
    const { session, backend } = await new Backends(runner, "tmux").find(
      "dev",
    );
    assert.equal(session.name, "dev");
    assert.equal(backend.name, "tmux");
  });
});
