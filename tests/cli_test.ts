import assert from "node:assert/strict";
import { join } from "node:path";
import { runCommand } from "./helpers/command.ts";
import { RUNTIME_FLAGS } from "../scripts/runtime-flags.ts";
import { tidyCommanderMessage } from "../cli/app.ts";
import {
  runSessions,
  sessionsArgv,
  sessionsShellLine,
} from "./helpers/sessions.ts";
import { PrivateTmux } from "./helpers/tmux.ts";
import { VERSION } from "../cli/version.ts";
import { ExitCode } from "../cli/exit-codes.ts";
import { SIGNAL_EXIT } from "../cli/terminal.ts";

Deno.test("the deno.json sessions task runs main.ts with exactly the shared runtime flags", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  assert.equal(
    config.tasks.sessions,
    `deno run --quiet ${RUNTIME_FLAGS.join(" ")} main.ts`,
  );
});

/** The codes in the first column of the table in the README section HEADING. */
function readmeCodes(readme: string, heading: string): number[] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no '${heading}' in the README`);
  const section = readme.slice(start + heading.length + 2).split(/\n#/)[0];
  const table = section.split("\n\n").map((block) => block.trim())
    .find((block) => block.startsWith("|"));
  assert.ok(table, `no table in '${heading}'`);
  return table.split("\n").slice(2).map((row) => Number(row.split("|")[1]));
}

Deno.test("the README's exit code tables list exactly the codes sessions uses", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const used = new Set([
    ...Object.values(ExitCode),
    ...Object.values(SIGNAL_EXIT),
  ]);
  const ascending = (codes: Iterable<number>) =>
    [...new Set(codes)].sort((a, b) => a - b);
  assert.deepEqual(readmeCodes(readme, "## Exit codes"), ascending(used));
  const { OK, FAILURE, USAGE } = ExitCode;
  const { REMOTE_COMMAND_FAILED, REMOTE_UNREACHABLE, REMOTE_TIMEOUT } =
    ExitCode;
  assert.deepEqual(
    ascending(readmeCodes(readme, "### Exit status of exec")),
    ascending([
      OK,
      FAILURE,
      USAGE,
      REMOTE_COMMAND_FAILED,
      REMOTE_UNREACHABLE,
      REMOTE_TIMEOUT,
      ...Object.values(SIGNAL_EXIT),
    ]),
  );
});

Deno.test("commander messages become one line with a lower-case suggestion", () => {
  assert.equal(
    tidyCommanderMessage(
      "error: unknown command 'lst'\n(Did you mean list?)\n",
    ),
    "unknown command 'lst' (did you mean list?)",
  );
});

Deno.test("sessions as a process", async (t) => {
  await t.step(
    "commander's own errors are one line pointing at the command's help",
    async () => {
      const result = await runSessions(["create"]);
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        "sessions: missing required argument 'name' (see 'sessions create --help')\n",
      );
    },
  );
  await t.step("--version prints the version and exits 0", async () => {
    const result = await runSessions(["--version"]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), VERSION);
  });
  await t.step(
    "a mistyped command suggests the right one and exits 2",
    async () => {
      const result = await runSessions(["lsit"]);
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        "sessions: unknown command 'lsit' (did you mean list?)\n",
      );
    },
  );
  await t.step(
    "an unknown option where a session name goes says how to pass a name starting with '-'",
    async () => {
      const result = await runSessions(["kill", "-dev"]);
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        "sessions: unknown option '-dev' (if '-dev' is a session name, put -- before it: sessions kill -- -dev)\n",
      );
      const list = await runSessions(["list", "--bogus"]);
      assert.equal(
        list.stderr,
        "sessions: unknown option '--bogus' (see 'sessions list --help')\n",
      );
    },
  );
  await t.step(
    "an invalid --backend is a usage error naming the choices",
    async () => {
      const result = await runSessions(["--backend", "byobu", "list"]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^sessions: .*'byobu'.*tmux, screen, zellij/);
    },
  );
});

Deno.test("the sessions task is silent on stderr where no multiplexer is installed", async () => {
  // Deno logs "Failed to resolve 'zellij' for allow-run" for every name of
  // --allow-run missing from PATH unless the run is --quiet.
  const emptyPath = await Deno.makeTempDir();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "sessions", "list", "--json"],
      cwd: new URL("..", import.meta.url),
      env: { PATH: emptyPath, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    assert.equal(decoder.decode(output.stderr), "");
    assert.equal(decoder.decode(output.stdout), "[]\n");
    assert.equal(output.code, 0);
  } finally {
    await Deno.remove(emptyPath, { recursive: true });
  }
});

Deno.test("a bad SESSIONS_BACKEND stops only the local commands that would use it", async () => {
  const env = { SESSIONS_BACKEND: "byobu" };
  assert.equal((await runSessions(["--help"], { env })).code, 0);
  assert.equal((await runSessions(["exec", "--help"], { env })).code, 0);
  const list = await runSessions(["list"], { env });
  assert.equal(list.code, 2);
  assert.equal(
    list.stderr,
    "sessions: SESSIONS_BACKEND is 'byobu', which is not a backend (set it to tmux, screen, zellij, or unset it)\n",
  );
  // A typed --backend does not need the variable.
  const tmux = await PrivateTmux.create();
  try {
    const typed = await runSessions(["list", "--backend", "tmux", "--json"], {
      env: { ...env, ...tmux.env() },
    });
    assert.equal(typed.code, 0, typed.stderr);
  } finally {
    await tmux.dispose();
  }
});

Deno.test("scripts/sessions runs in the caller's directory, not the checkout's", async () => {
  const script = new URL("../scripts/sessions", import.meta.url).pathname;
  const tmux = await PrivateTmux.create();
  const caller = await Deno.makeTempDir({ prefix: "sessions-caller-" });
  try {
    await Deno.mkdir(join(caller, "work"));
    const result = await runCommand(
      script,
      ["--backend", "tmux", "create", "here", "--directory", "work"],
      { env: { ...tmux.env(), SHELL: "/bin/sh" }, cwd: caller },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      (await tmux.ok([
        "display-message",
        "-p",
        "-t",
        "=here:",
        "#{pane_current_path}",
      ]))
        .trim(),
      await Deno.realPath(join(caller, "work")),
    );
  } finally {
    await tmux.dispose();
    await Deno.remove(caller, { recursive: true });
  }
});

Deno.test("a standard output that cannot take the output (a full disk) is one line and exit 1, not a bug", async () => {
  const tmux = await PrivateTmux.create();
  try {
    await tmux.ok(["new-session", "-d", "-s", "full"]);
    for (const args of [["--version"], ["list"], ["list", "--"]]) {
      const result = await runCommand(
        "sh",
        ["-c", `${sessionsShellLine(args)} >/dev/full`],
        { env: tmux.env() },
      );
      assert.equal(result.code, 1, args.join(" "));
      assert.equal(
        result.stderr,
        "sessions: cannot write to standard output: No space left on device (check where standard output goes, e.g. the free space)\n",
        args.join(" "),
      );
    }
  } finally {
    await tmux.dispose();
  }
});

Deno.test("when the reader of standard output goes away, list ends quietly with 1", async () => {
  const [command, ...args] = sessionsArgv();
  const tmux = await PrivateTmux.create();
  try {
    const child = new Deno.Command(command, {
      args: [...args, "list", "--json"],
      env: { ...tmux.env(), NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Closed long before sessions has started and writes.
    await child.stdout.cancel();
    const stderr = new TextDecoder().decode(
      (await new Response(child.stderr).arrayBuffer()) as ArrayBuffer,
    );
    const status = await child.status;
    assert.equal(stderr, "");
    assert.equal(status.code, 1);
  } finally {
    await tmux.dispose();
  }
});
