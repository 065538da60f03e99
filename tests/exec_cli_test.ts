/**
 * `sessions exec` end to end: the real binary (runSessions) against real
 * sshds on loopback addresses, with a private HOME, -F config and
 * known_hosts, so no file of the user running the tests is read or written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ClientKeys,
  closedPort,
  createClientKeys,
  processesMatching,
  type SshdCluster,
  startSshd,
  writeClusterSshFiles,
} from "./helpers/sshd.ts";
import {
  runSessions,
  sessionsArgv,
  type SessionsResult,
  sessionsShellLine,
} from "./helpers/sessions.ts";
import { Pty } from "./helpers/pty.ts";
import { hostColor } from "../cli/exec-output.ts";
import { MAX_FAN_OUT } from "../remote/limits.ts";

/** Prints the address the connection arrived at: which stand-in host ran it. */
const WHO = 'set -- $SSH_CONNECTION; echo "$3"';

interface Fixture {
  cluster: SshdCluster;
  keys: ClientKeys;
  dir: string;
  config: string;
  knownHosts: string;
  env: Record<string, string>;
  targets: string;
}

async function setUp(): Promise<Fixture & { cleanUp(): Promise<void> }> {
  const keys = await createClientKeys();
  const cluster = await startSshd({ count: 3, keys });
  const dir = await Deno.makeTempDir({ prefix: "sessions-exec-cli-" });
  const home = join(dir, "home");
  await Deno.mkdir(join(home, ".ssh"), { recursive: true });
  const { knownHosts, sshConfig: config } = await writeClusterSshFiles(
    dir,
    cluster,
    keys.key,
  );
  return {
    cluster,
    keys,
    dir,
    config,
    knownHosts,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: join(dir, "xdg"),
      SSH_AUTH_SOCK: "",
    },
    targets: cluster.addresses.join(","),
    async cleanUp() {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(keys.dir, { recursive: true });
    },
  };
}

/**
 * `sessions exec -F … --key ENCRYPTED ARGS WHO` typed into a terminal, with
 * REDIRECT after it, then its status printed as `status=N`.
 */
function startWithEncryptedKey(
  fixture: Fixture,
  args: string[],
  redirect: string,
): Promise<Pty> {
  return Pty.start({
    command: sessionsShellLine([
      "exec",
      "-F",
      fixture.config,
      "--key",
      fixture.keys.encryptedKey,
      ...args,
      WHO,
    ]) + `${redirect}; echo "status=$?"`,
    env: { ...fixture.env, NO_COLOR: "1" },
    cols: 160,
  });
}

/** `sessions exec` started in the background, for signals and early-closed output. */
function spawnExec(fixture: Fixture, args: string[]): Deno.ChildProcess {
  const [command, ...rest] = sessionsArgv();
  return new Deno.Command(command, {
    args: [...rest, "exec", "-F", fixture.config, ...args],
    env: { NO_COLOR: "1", ...fixture.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(
  child: Deno.ChildProcess,
): Promise<{ code: number; stderr: string }> {
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
    child.stdout.cancel().catch(() => {}),
  ]);
  return { code: status.code, stderr };
}

/** known_hosts back to every host's key (steps before may have changed it). */
function trustEveryHost(fixture: Fixture): Promise<void> {
  return Deno.writeTextFile(fixture.knownHosts, fixture.cluster.knownHosts);
}

async function waitForRemote(pattern: string, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (
    (await processesMatching(pattern)).split("\n").filter(Boolean).length <
      count
  ) {
    if (Date.now() > deadline) throw new Error(`no ${count} × ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function exec(
  fixture: Fixture,
  args: string[],
  stdin?: string,
): Promise<SessionsResult> {
  return runSessions(["exec", "-F", fixture.config, ...args], {
    env: fixture.env,
    stdin,
  });
}

Deno.test("sessions exec against real sshds", async (t) => {
  const fixture = await setUp();
  const [a, b, c] = fixture.cluster.addresses;
  try {
    await t.step("lines: each host's lines, prefixed and aligned", async () => {
      const result = await exec(fixture, [
        "--targets",
        `${a},${b}`,
        "--parallel",
        `${WHO}; echo oops >&2; printf tail`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const width = Math.max(a.length, b.length);
      const lines = result.stdout.split("\n").filter((line) => line !== "");
      assert.deepEqual(
        lines.sort(),
        [
          `${a.padEnd(width)} | ${a}`,
          `${a.padEnd(width)} | tail`,
          `${b.padEnd(width)} | ${b}`,
          `${b.padEnd(width)} | tail`,
        ].sort(),
      );
      assert.match(result.stderr, new RegExp(`${a.padEnd(width)} ! oops\n`));
      assert.match(result.stderr, /2 hosts: 2 succeeded\n/);
    });

    await t.step(
      "blocks: a header per host, in target order when sequential",
      async () => {
        const result = await exec(fixture, [
          "--targets",
          `${b},${a}`,
          "--output",
          "blocks",
          WHO,
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stdout,
          `--- ${b} (exit 0) ---\n${b}\n--- ${a} (exit 0) ---\n${a}\n`,
        );
      },
    );

    await t.step(
      "lines and blocks: output that is not UTF-8 arrives byte for byte",
      async () => {
        // Latin-1 "café" and a lone continuation byte (octal escapes).
        const command = "printf 'caf\\351\\n\\200'";
        const encode = (text: string) => new TextEncoder().encode(text);
        const lines = await exec(fixture, ["--targets", a, command]);
        assert.equal(lines.code, 0, lines.stderr);
        assert.deepEqual(
          lines.stdoutBytes,
          Uint8Array.from([
            ...encode(`${a} | caf`),
            0xe9,
            0x0a,
            ...encode(`${a} | `),
            0x80,
            0x0a,
          ]),
        );
        const blocks = await exec(fixture, [
          "--targets",
          a,
          "--output",
          "blocks",
          command,
        ]);
        assert.equal(blocks.code, 0, blocks.stderr);
        assert.deepEqual(
          blocks.stdoutBytes,
          Uint8Array.from([
            ...encode(`--- ${a} (exit 0) ---\ncaf`),
            0xe9,
            0x0a,
            0x80,
            0x0a,
          ]),
        );
      },
    );

    await t.step(
      "gather: identical output under one folded header",
      async () => {
        const result = await exec(fixture, [
          "--targets",
          fixture.targets,
          "--parallel",
          "--gather",
          "echo same",
        ]);
        assert.equal(result.code, 0, result.stderr);
        const prefix = a.slice(0, a.lastIndexOf(".") + 1);
        assert.equal(
          result.stdout,
          `--- ${prefix}[1-3] (3 hosts) (exit 0) ---\nsame\n`,
        );
      },
    );

    await t.step(
      "--json: one complete object per host and nothing else",
      async () => {
        const result = await exec(fixture, [
          "--targets",
          fixture.targets,
          "--parallel",
          "2",
          "--json",
          `${WHO}; echo e >&2`,
        ]);
        assert.equal(result.code, 0, result.stderr);
        const lines = result.stdout.trimEnd().split("\n");
        assert.equal(lines.length, 3);
        const records = lines.map((line) => JSON.parse(line));
        for (const record of records) {
          assert.deepEqual(Object.keys(record).sort(), [
            "duration_ms",
            "error",
            "exit_code",
            "host",
            "port",
            "signal",
            "stderr",
            "stdout",
            "target",
            "truncated",
            "user",
          ]);
          assert.equal(record.stdout, `${record.target}\n`);
          assert.equal(record.host, record.target);
          assert.equal(record.stderr, "e\n");
          assert.equal(record.exit_code, 0);
          assert.equal(record.signal, null);
          assert.equal(record.error, null);
          assert.equal(record.truncated, false);
          assert.equal(record.port, fixture.cluster.port);
          assert.equal(record.user, fixture.cluster.user);
          assert.equal(typeof record.duration_ms, "number");
        }
        assert.deepEqual(
          records.map((record) => record.target).sort(),
          [a, b, c].sort(),
        );
      },
    );

    await t.step(
      "buffered modes: a stream over 32 MiB is cut there and marked, the other hosts whole; exit 1 unless a host failed",
      async () => {
        const limit = 32 * 1024 * 1024;
        const bigOnA = (other: string) =>
          `set -- $SSH_CONNECTION; if [ "$3" = ${a} ]; then ` +
          `head -c ${limit + 4096} /dev/zero; else ${other}; fi`;
        const result = await exec(fixture, [
          "--targets",
          `${a},${b}`,
          "--json",
          bigOnA("echo small"),
        ]);
        assert.equal(result.code, 1, result.stderr);
        const [big, small] = result.stdout.trimEnd().split("\n").map((
          line,
        ) => JSON.parse(line));
        assert.equal(big.target, a);
        assert.equal(big.stdout.length, limit);
        assert.equal(big.truncated, true);
        assert.equal(big.exit_code, 0);
        assert.equal(small.stdout, "small\n");
        assert.equal(small.truncated, false);
        assert.match(
          result.stderr,
          new RegExp(
            `2 hosts: 2 succeeded\n` +
              `sessions: output over 32 MiB in a stream was cut short for ${
                a.replaceAll(".", "\\.")
              } \\(use --output lines or --outdir DIR to keep all of it\\)\n$`,
          ),
        );

        // A failed host's own exit code wins over the cut (1).
        const blocks = await exec(fixture, [
          "--targets",
          `${a},${b}`,
          "--output",
          "blocks",
          bigOnA("exit 3"),
        ]);
        assert.equal(blocks.code, 6, blocks.stderr);
        assert.ok(
          blocks.stdout.startsWith(
            `--- ${a} (exit 0; output cut at 32 MiB) ---\n\0\0`,
          ),
        );
        assert.ok(blocks.stdout.endsWith(`\n--- ${b} (exit 3) ---\n`));
        // The header, the kept bytes and the newline a block adds, b's header.
        assert.equal(
          blocks.stdoutBytes.length,
          `--- ${a} (exit 0; output cut at 32 MiB) ---\n`.length + limit + 1 +
            `--- ${b} (exit 3) ---\n`.length,
        );
        assert.match(blocks.stderr, /output over 32 MiB in a stream was cut/);
      },
    );

    await t.step(
      "--outdir: exact bytes per host and stream, and the status",
      async () => {
        const outdir = join(fixture.dir, "out");
        const result = await exec(fixture, [
          "--targets",
          `${a},${b}`,
          "--outdir",
          outdir,
          `${WHO}; printf 'x\\ny' >&2; exit 4`,
        ]);
        assert.equal(result.code, 6, result.stderr);
        assert.equal(result.stdout, "");
        for (const address of [a, b]) {
          const base = join(outdir, address);
          assert.equal(
            await Deno.readTextFile(`${base}.stdout`),
            `${address}\n`,
          );
          assert.equal(await Deno.readTextFile(`${base}.stderr`), "x\ny");
          assert.equal(await Deno.readTextFile(`${base}.status`), "exit 4\n");
        }
      },
    );

    await t.step(
      "repeated --targets and --exclude add up; --targets-file - reads standard input",
      async () => {
        const repeated = await exec(fixture, [
          "--targets",
          a,
          "--targets",
          `${b},${c}`,
          "--exclude",
          a,
          "--exclude",
          b,
          "--exclude",
          `nobody@${c}`,
          "--output",
          "blocks",
          WHO,
        ]);
        assert.equal(repeated.code, 0, repeated.stderr);
        assert.equal(repeated.stdout, `--- ${c} (exit 0) ---\n${c}\n`);
        // An exclusion that leaves out nothing is said, not silently kept.
        assert.equal(
          repeated.stderr,
          `sessions: --exclude nobody@${c} matches no target, so it leaves out nothing (an exclusion with a user or port matches only targets written with the same)\n` +
            "1 host: 1 succeeded\n",
        );

        // The targets are read from standard input, so the command gets none.
        const piped = await exec(
          fixture,
          ["--targets-file", "-", "--output", "blocks", `${WHO}; cat`],
          `${a}\n# a comment\n${b}\n`,
        );
        assert.equal(piped.code, 0, piped.stderr);
        assert.equal(
          piped.stdout,
          `--- ${a} (exit 0) ---\n${a}\n--- ${b} (exit 0) ---\n${b}\n`,
        );
      },
    );

    await t.step(
      "a target that resolves to the same login as an earlier one runs once, with a line",
      async () => {
        const same = `${fixture.cluster.user}@${a}:${fixture.cluster.port}`;
        const result = await exec(fixture, ["--targets", `${a},${same}`, WHO]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stderr,
          `sessions: ${same} is the same login as ${a} (${same}): run once\n` +
            "1 host: 1 succeeded\n",
        );
      },
    );

    await t.step("standard input reaches every host", async () => {
      const result = await exec(fixture, [
        "--targets",
        fixture.targets,
        "--parallel",
        "--json",
        "cat",
      ], "piped data\n");
      assert.equal(result.code, 0, result.stderr);
      const outputs = result.stdout.trimEnd().split("\n")
        .map((line) => JSON.parse(line).stdout);
      assert.deepEqual(outputs, [
        "piped data\n",
        "piped data\n",
        "piped data\n",
      ]);
    });

    await t.step(
      "exit 6 when a command fails, with the summary naming it",
      async () => {
        const result = await exec(fixture, [
          "--targets",
          fixture.targets,
          "--parallel",
          `set -- $SSH_CONNECTION; [ "$3" = ${b} ] && exit 3; true`,
        ]);
        assert.equal(result.code, 6);
        assert.match(result.stderr, /3 hosts: 2 succeeded, 1 failed\n/);
        assert.match(result.stderr, new RegExp(`failed \\(exit 3\\): ${b}\n`));
      },
    );

    await t.step(
      "exit 7 when a host is unreachable; the others still run",
      async () => {
        const closed = `${a}:${closedPort(a)}`;
        const result = await exec(fixture, [
          "--targets",
          `${closed},${b}`,
          "--parallel",
          "--json",
          WHO,
        ]);
        assert.equal(result.code, 7);
        const records = result.stdout.trimEnd().split("\n").map((line) =>
          JSON.parse(line)
        );
        const byTarget = new Map(
          records.map((record) => [record.target, record]),
        );
        assert.equal(byTarget.get(closed).error.kind, "unreachable");
        assert.equal(byTarget.get(closed).exit_code, null);
        assert.equal(byTarget.get(b).stdout, `${b}\n`);
        assert.match(result.stderr, /1 succeeded, 1 unreachable/);
      },
    );

    await t.step("exit 8 when a command runs over --timeout", async () => {
      const result = await exec(fixture, [
        "--targets",
        a,
        "--timeout",
        "1s",
        "--json",
        "sleep 30",
      ]);
      assert.equal(result.code, 8);
      assert.equal(JSON.parse(result.stdout).error.kind, "timeout");
      assert.match(result.stderr, /1 host: 1 timed out\n/);
    });

    await t.step(
      "SIGINT or SIGTERM: running commands are stopped, the rest not started, a summary, 128 + N",
      async (t) => {
        for (
          const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const
        ) {
          await t.step(signal, async () => {
            const marker = `7${Math.floor(Math.random() * 1e6)}`;
            const child = spawnExec(fixture, [
              "--targets",
              `${a},${b},${c}`,
              "--parallel",
              "2",
              `sleep ${marker}`,
            ]);
            await waitForRemote(`^sleep ${marker}`, 2);
            child.kill(signal);
            const result = await finish(child);
            assert.equal(result.code, status, result.stderr);
            assert.match(
              result.stderr,
              /^sessions: interrupted: stopping the commands still running/,
            );
            assert.match(result.stderr, /3 hosts: 3 interrupted\n/);
            assert.match(result.stderr, /interrupted: \S+ \(stopped\)\n/);
            assert.match(result.stderr, /interrupted: \S+ \(not started\)\n/);
            assert.equal(await processesMatching(`^sleep ${marker}`), "");
          });
        }
      },
    );

    await t.step(
      "standard output closed early: the commands are stopped, quietly, exit 1",
      async () => {
        const marker = `8${Math.floor(Math.random() * 1e6)}`;
        const child = spawnExec(fixture, [
          "--targets",
          a,
          `echo first; sleep 1; echo second; sleep ${marker}`,
        ]);
        const reader = child.stdout.getReader();
        await reader.read();
        await reader.cancel();
        const result = await finish(child);
        assert.equal(result.code, 1, result.stderr);
        // As pdsh under `| head`: no summary of what the reader did not want.
        assert.equal(result.stderr, "");
        assert.equal(await processesMatching(`^sleep ${marker}`), "");
      },
    );

    await t.step("exit 7 wins over 8 and 6", async () => {
      const closed = `${a}:${closedPort(a)}`;
      const result = await exec(fixture, [
        "--targets",
        `${closed},${b},${c}`,
        "--parallel",
        "--timeout",
        "1",
        `set -- $SSH_CONNECTION; [ "$3" = ${b} ] && exit 3; sleep 30`,
      ]);
      assert.equal(result.code, 7);
      assert.match(result.stderr, /1 failed, 1 unreachable, 1 timed out/);
    });

    await t.step(
      "--port and --user override the SSH config; refusals are reported as such",
      async () => {
        const wrongPort = await exec(fixture, [
          "--targets",
          a,
          "--port",
          String(closedPort(a)),
          "--json",
          "true",
        ]);
        assert.equal(wrongPort.code, 7);
        assert.equal(JSON.parse(wrongPort.stdout).error.kind, "unreachable");
        const wrongUser = await exec(fixture, [
          "--targets",
          a,
          "--user",
          "nobody",
          "--json",
          "true",
        ]);
        assert.equal(wrongUser.code, 7);
        const record = JSON.parse(wrongUser.stdout);
        assert.equal(record.user, "nobody");
        assert.equal(record.error.kind, "auth");
        assert.match(
          wrongUser.stderr,
          /1 host: 1 refused\n {2}refused \(auth\): /,
        );
      },
    );

    await t.step(
      "the sessions config file: groups and a default timeout, under the flags",
      async () => {
        const configDir = join(fixture.env.XDG_CONFIG_HOME, "sessions");
        await Deno.mkdir(configDir, { recursive: true });
        await Deno.writeTextFile(
          join(configDir, "config"),
          `timeout 1s\ngroup pair ${a},${b}\n`,
        );
        try {
          const timedOut = await exec(fixture, [
            "--targets",
            "@pair",
            "--parallel",
            "--json",
            "sleep 30",
          ]);
          assert.equal(timedOut.code, 8, timedOut.stderr);
          assert.deepEqual(
            timedOut.stdout.trimEnd().split("\n").map((line) =>
              JSON.parse(line).error.kind
            ),
            ["timeout", "timeout"],
          );
          const flagWins = await exec(fixture, [
            "--targets",
            "@pair",
            "--timeout",
            "20s",
            "sleep 2; echo done",
          ]);
          assert.equal(flagWins.code, 0, flagWins.stderr);
          await Deno.writeTextFile(join(configDir, "config"), "timeout soon\n");
          const malformed = await exec(fixture, ["--targets", a, "true"]);
          assert.equal(malformed.code, 2);
          assert.match(malformed.stderr, /^sessions: .*config:1: /);
        } finally {
          await Deno.remove(configDir, { recursive: true });
        }
      },
    );

    await t.step(
      "an SSH config warning is printed once per run, not per host",
      async () => {
        const config = join(fixture.dir, "ssh_config_match_exec");
        await Deno.writeTextFile(
          config,
          'Match exec "true"\n  User nobody\n' +
            await Deno.readTextFile(fixture.config),
        );
        const result = await runSessions([
          "exec",
          "-F",
          config,
          "--targets",
          fixture.targets,
          "--parallel",
          "true",
        ], { env: fixture.env });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stderr.match(/Match exec/g)?.length,
          1,
          result.stderr,
        );
      },
    );

    await t.step(
      "a reader that goes away (| head) ends the run quietly",
      async () => {
        const line = sessionsShellLine([
          "exec",
          "-F",
          fixture.config,
          "--targets",
          fixture.targets,
          "--parallel",
          "seq 1 1000000",
        ]);
        const output = await new Deno.Command("bash", {
          args: [
            "-c",
            `${line} | head -1; echo "status=\${PIPESTATUS[0]}" >&2`,
          ],
          env: { ...fixture.env, NO_COLOR: "1" },
          stdin: "null",
        }).output();
        const stdout = new TextDecoder().decode(output.stdout);
        const stderr = new TextDecoder().decode(output.stderr);
        assert.match(stdout, /^\S+ +\| 1\n$/);
        assert.match(stderr, /status=1\n$/);
        assert.doesNotMatch(stderr, /internal error|Uncaught/);
      },
    );

    await t.step("usage errors: one line, exit 2, nothing run", async (t) => {
      for (
        const [what, args, pattern] of [
          ["a bad target", ["--targets", "web[1-"], /web\[1-/],
          ["a bad timeout", ["--targets", a, "--timeout", "5x"], /--timeout/],
          ["a bad fan-out", ["--targets", a, "--parallel", "0"], /--parallel/],
          [
            "a fan-out above the config file's limit too",
            ["--targets", a, "--parallel", String(MAX_FAN_OUT + 1)],
            new RegExp(
              `--parallel '${MAX_FAN_OUT + 1}'.*1 to ${MAX_FAN_OUT}\\b`,
            ),
          ],
          [
            "no time to connect",
            ["--targets", a, "--connect-timeout", "0"],
            /--connect-timeout/,
          ],
          [
            "a negative fan-out",
            ["--targets", a, "--parallel", "-1"],
            /--parallel '-1'/,
          ],
          ["no targets", [], /no targets/],
          [
            "two output modes",
            ["--targets", a, "--json", "--gather"],
            /json|gather/,
          ],
        ] as const
      ) {
        await t.step(what, async () => {
          const result = await exec(fixture, [...args, "true"]);
          assert.equal(result.code, 2, result.stderr);
          assert.equal(result.stdout, "");
          assert.equal(result.stderr.split("\n").length, 2, result.stderr);
          assert.match(result.stderr, /^sessions: /);
          assert.match(result.stderr, pattern);
        });
      }
    });

    await t.step(
      "a directory as standard input: one line, exit 2, nothing run",
      async () => {
        const [command, ...rest] = sessionsArgv();
        // Deno cannot hand a directory over as stdin itself: a shell opens it.
        const shell = await new Deno.Command("sh", {
          args: [
            "-c",
            'exec "$@" < "$DIR"',
            "sh",
            command,
            ...rest,
            "exec",
            "-F",
            fixture.config,
            "--targets",
            a,
            "cat",
          ],
          env: { NO_COLOR: "1", ...fixture.env, DIR: fixture.dir },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(shell.stderr);
        assert.equal(shell.code, 2, stderr);
        assert.equal(
          stderr,
          "sessions: cannot read standard input: Is a directory (redirect a file or a pipe into sessions exec, or nothing)\n",
        );
        assert.equal(shell.stdout.length, 0);
      },
    );

    await t.step(
      "--outdir removed mid-run: every host still ends, then one line and exit 1",
      async () => {
        const outdir = join(fixture.dir, "vanishing");
        const child = spawnExec(fixture, [
          "--targets",
          `${a},${b}`,
          "--parallel",
          "--outdir",
          outdir,
          "echo one; sleep 1; echo two",
        ]);
        const first = join(outdir, `${a}.stdout`);
        const deadline = Date.now() + 20_000;
        while ((await Deno.stat(first).catch(() => null))?.size !== 4) {
          if (Date.now() > deadline) throw new Error("no output arrived");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await Deno.remove(outdir, { recursive: true });
        const result = await finish(child);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /^2 hosts: 2 succeeded\n/m);
        assert.match(
          result.stderr,
          /^sessions: could not write the --outdir files of \S+: No such file or directory.*\(their output is incomplete/m,
        );
        assert.doesNotMatch(result.stderr, /internal error/);
      },
    );

    await t.step(
      "an --outdir that cannot be written: one line, exit 2, nothing run",
      async (t) => {
        const file = join(fixture.dir, "a-file");
        await Deno.writeTextFile(file, "");
        const cases: [string, string, RegExp][] = [
          ["a regular file", file, /it exists and is not a directory/],
          ["below a regular file", join(file, "out"), /not a directory/],
          // Deno lets no program without --allow-all write there.
          ["under /proc", "/proc/sessions-outdir", /may not write under/],
        ];
        if (Deno.uid() !== 0) {
          // (root writes into any mode, so this case needs another user.)
          const locked = join(fixture.dir, "locked");
          await Deno.mkdir(locked, { mode: 0o500 });
          cases.push(["a read-only directory", locked, /permission denied/]);
        }
        const marker = join(fixture.dir, "ran");
        for (const [what, outdir, reason] of cases) {
          await t.step(what, async () => {
            const result = await exec(fixture, [
              "--targets",
              a,
              "--outdir",
              outdir,
              `touch ${marker}`,
            ]);
            assert.equal(result.code, 2, result.stderr);
            assert.equal(result.stdout, "");
            assert.match(
              result.stderr,
              new RegExp(
                `^sessions: cannot write to --outdir ${outdir}: [^\\n]*\\(give a directory you can write to\\)\\n$`,
              ),
            );
            assert.match(result.stderr, reason);
            assert.doesNotMatch(result.stderr, /os error|allow-all/);
            await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
          });
        }
      },
    );

    await t.step(
      "unknown host keys without a terminal are refused with the --accept-new hint",
      async () => {
        await Deno.writeTextFile(fixture.knownHosts, "");
        const result = await exec(fixture, [
          "--targets",
          fixture.targets,
          "--parallel",
          WHO,
        ]);
        assert.equal(result.code, 7);
        assert.equal(result.stdout, "");
        assert.match(result.stderr, /3 refused/);
        assert.match(result.stderr, /--accept-new/);
        // One summary line for all three, whatever their names and keys.
        assert.match(
          result.stderr,
          /\n {2}refused \(host-key\): 127\.\d+\.\d+\.\[1-3\] \(unknown host key; /,
        );
        assert.equal(await Deno.readTextFile(fixture.knownHosts), "");
      },
    );

    await t.step(
      "--accept-new records exactly one line per new host",
      async () => {
        await Deno.writeTextFile(fixture.knownHosts, "");
        const first = await exec(fixture, [
          "--targets",
          fixture.targets,
          "--parallel",
          "--accept-new",
          "true",
        ]);
        assert.equal(first.code, 0, first.stderr);
        const recorded = (await Deno.readTextFile(fixture.knownHosts))
          .trimEnd().split("\n");
        assert.equal(recorded.length, 3);
        for (const address of [a, b, c]) {
          assert.equal(
            recorded.filter((line) =>
              line.startsWith(`[${address}]:${fixture.cluster.port} `)
            ).length,
            1,
            recorded.join("\n"),
          );
        }
        const again = await exec(fixture, [
          "--targets",
          fixture.targets,
          "true",
        ]);
        assert.equal(again.code, 0, again.stderr);
      },
    );

    await t.step(
      "on a terminal: one question for every unknown key, then the run",
      async () => {
        await Deno.writeTextFile(fixture.knownHosts, "");
        const pty = await Pty.start({
          command: sessionsShellLine([
            "exec",
            "-F",
            fixture.config,
            "--targets",
            `${a},${b}`,
            "--parallel",
            WHO,
            // The shell reports the status: tmux is sometimes slow to mark a pane dead.
          ]) + '; echo "status=$?"',
          env: { ...fixture.env, NO_COLOR: "1" },
          cols: 160,
        });
        try {
          const question = await pty.waitFor(/\(yes\/no\)\?$/, 30_000);
          assert.equal(question.match(/\(yes\/no\)/g)?.length, 1);
          assert.match(question, /these 2 hosts/);
          for (const address of [a, b]) {
            assert.match(
              question,
              new RegExp(
                `${address.replaceAll(".", "\\.")} +ssh-ed25519 ${
                  fixture.cluster.hostKey.fingerprint.replace(/[+/]/g, "\\$&")
                }`,
              ),
            );
          }
          await pty.typeLine("yes");
          const screen = await pty.waitFor(/status=\d/, 30_000);
          assert.match(screen, /status=0\b/);
          assert.match(
            screen,
            new RegExp(`${a.replaceAll(".", "\\.")} \\| ${a}`),
          );
          assert.match(screen, /2 hosts: 2 succeeded/);
          const recorded = (await Deno.readTextFile(fixture.knownHosts))
            .trimEnd().split("\n");
          assert.equal(recorded.length, 2);
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "on a terminal, lines are coloured per host and stderr's marker is red",
      async () => {
        const pty = await Pty.start({
          command: sessionsShellLine([
            "exec",
            "-F",
            fixture.config,
            "--targets",
            `${a},${b}`,
            `${WHO}; echo oops >&2`,
          ]) + '; echo "status=$?"',
          env: { ...fixture.env, NO_COLOR: "" },
          cols: 160,
          rows: 40,
        });
        try {
          await pty.waitFor(/status=\d/, 30_000);
          const screen = await pty.tmux.ok([
            "capture-pane",
            "-p",
            "-e",
            "-S",
            "-",
            "-t",
            "=pty:",
          ]);
          for (const address of [a, b]) {
            const sgr =
              { cyan: 36, green: 32, yellow: 33, blue: 34, magenta: 35 }[
                hostColor(address) as "cyan"
              ];
            assert.ok(
              screen.includes(`\x1b[${sgr}m${address}\x1b[39m | ${address}`) ||
                screen.includes(`\x1b[${sgr}m${address}\x1b[0m | ${address}`),
              JSON.stringify(screen),
            );
          }
          assert.ok(
            screen.includes("\x1b[31m!\x1b[39m oops") ||
              screen.includes("\x1b[31m!\x1b[0m oops"),
            JSON.stringify(screen),
          );
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "on a terminal: an encrypted key's passphrase is asked once for all hosts",
      async () => {
        await trustEveryHost(fixture);
        const pty = await startWithEncryptedKey(
          fixture,
          ["--targets", fixture.targets, "--parallel"],
          "",
        );
        try {
          const prompt = await pty.waitFor(/passphrase/i, 30_000);
          assert.match(prompt, /id_encrypted/);
          // Answered once: a second prompt (per host) would wait for ever,
          // and the run would never reach its status line.
          await pty.typeLine(fixture.keys.passphrase);
          const screen = await pty.waitFor(/status=\d/, 30_000);
          assert.match(screen, /3 hosts: 3 succeeded/);
          assert.match(screen, /status=0\b/);
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "on a terminal with standard error redirected: no unseen passphrase question, the key is passed over",
      async () => {
        const log = join(fixture.dir, "stderr.log");
        const pty = await startWithEncryptedKey(
          fixture,
          ["--targets", a],
          ` 2>${log}`,
        );
        try {
          // A question written to the redirected stderr would wait for ever.
          const screen = await pty.waitFor(/status=\d/, 30_000);
          const stderr = await Deno.readTextFile(log);
          assert.doesNotMatch(stderr, /passphrase for key/);
          // The config's plain key logs in; the encrypted one is passed over.
          assert.match(screen, /status=0\b/, stderr);
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "a --key that does not exist is named once, a missing IdentityFile not at all; another key logs in",
      async () => {
        await trustEveryHost(fixture);
        const missing = join(fixture.dir, "id_typo");
        const result = await exec(fixture, [
          "--targets",
          fixture.targets,
          "--parallel",
          "--key",
          missing,
          WHO,
        ]);
        assert.equal(result.code, 0, result.stderr);
        const warning =
          `sessions: identity file ${missing} not accessible: no such file; going on without it\n`;
        assert.equal(result.stderr.split(warning).length - 1, 1, result.stderr);
        assert.match(result.stderr, /3 hosts: 3 succeeded\n/);

        // As OpenSSH: only -i warns; a config's missing IdentityFile is
        // passed over (a Host * block may name keys some machines lack).
        const config = join(fixture.dir, "missing-identity.conf");
        await Deno.writeTextFile(
          config,
          `IdentityFile ${missing}\nInclude ${fixture.config}\n`,
        );
        const quiet = await runSessions(
          ["exec", "-F", config, "--targets", a, WHO],
          { env: fixture.env },
        );
        assert.equal(quiet.code, 0, quiet.stderr);
        assert.equal(quiet.stderr, "1 host: 1 succeeded\n");
      },
    );

    await t.step("--no-host-key-check runs and says so", async () => {
      await Deno.writeTextFile(fixture.knownHosts, "");
      const result = await exec(fixture, [
        "--targets",
        a,
        "--no-host-key-check",
        WHO,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /host key checking is off/);
      // StrictHostKeyChecking no records a new key, as OpenSSH does.
      assert.equal(
        await Deno.readTextFile(fixture.knownHosts),
        `[${a}]:${fixture.cluster.port} ${fixture.cluster.hostKey.publicLine}\n`,
      );
    });
  } finally {
    await fixture.cleanUp();
  }
});
