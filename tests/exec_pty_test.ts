/**
 * The parts of `sessions exec` that exist only on a terminal, end to end in
 * a real PTY (a pane of a private tmux): `--ask-pass` asks one password for
 * every host, and the progress line shows on stderr while a run goes on and
 * is erased before anything else is written. HOME, the SSH config and
 * known_hosts are private to each test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import ssh2 from "ssh2";
import { Pty } from "./helpers/pty.ts";
import { sessionsShellLine, shellQuote } from "./helpers/sessions.ts";
import {
  createClientKeys,
  generateHostKey,
  processesMatching,
  type SshdCluster,
  startSshd,
  writeClusterSshFiles,
} from "./helpers/sshd.ts";

const PASSWORD_PROMPT = "Password (for every host): ";

/** A progress line as cli/exec-output.ts formats it, for 3 hosts. */
const PROGRESS = /\d+\/3 done(, \d+ not ok)?, \d+ running/;

/** Where the tests' files live; everything in it is removed at the end. */
async function makeDir(prefix: string): Promise<{
  dir: string;
  env: Record<string, string>;
}> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix });
  const home = join(dir, "home");
  await Deno.mkdir(join(home, ".ssh"), { recursive: true });
  const denoDir = Deno.env.get("DENO_DIR") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
  return {
    dir,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: join(dir, "xdg"),
      // A fresh HOME would otherwise mean a fresh (empty) module cache.
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      SSH_AUTH_SOCK: "",
      NO_COLOR: "1",
    },
  };
}

/** One stand-in host that accepts only a password (the harness's sshd has no PAM). */
interface PasswordHost {
  address: string;
  port: number;
  /** How many connections came in. */
  connections: number;
  /** Every password offered to this host, in order. */
  passwords: string[];
  /** Every command run on it. */
  commands: string[];
}

/**
 * ssh2 servers in this process, one per loopback address, each offering
 * only "password" and answering an exec request with a line naming itself,
 * so the output shows which host ran it.
 */
async function startPasswordHosts(
  dir: string,
  count: number,
  password: string,
): Promise<
  { hosts: PasswordHost[]; knownHosts: string; close(): Promise<void> }
> {
  const hostKey = await generateHostKey(dir);
  const keyText = await Deno.readTextFile(hostKey.path);
  const subnet = 10 + Math.floor(Math.random() * 200);
  const servers: ssh2.Server[] = [];
  const hosts: PasswordHost[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const host: PasswordHost = {
        address: `127.0.${subnet}.${i}`,
        port: 0,
        connections: 0,
        passwords: [],
        commands: [],
      };
      const server = new ssh2.Server({ hostKeys: [keyText] }, (client) => {
        host.connections++;
        client.on("authentication", (context) => {
          if (context.method === "password") {
            host.passwords.push(context.password);
            if (context.password === password) return context.accept();
          }
          context.reject(["password"]);
        });
        client.on("ready", () => {
          client.on("session", (accept) => {
            accept().on("exec", (acceptExec, _reject, info) => {
              host.commands.push(info.command);
              const channel = acceptExec();
              channel.write(`served by ${host.address}\n`);
              channel.exit(0);
              channel.end();
            });
          });
        });
        client.on("error", () => {});
      });
      servers.push(server);
      await new Promise<void>((resolve) =>
        server.listen(0, host.address, () => resolve())
      );
      host.port = (server.address() as { port: number }).port;
      hosts.push(host);
    }
  } catch (error) {
    await closeAll(servers);
    throw error;
  }
  return {
    hosts,
    knownHosts: hosts.map((host) =>
      `[${host.address}]:${host.port} ${hostKey.publicLine}\n`
    ).join(""),
    close: () => closeAll(servers),
  };
}

async function closeAll(servers: ssh2.Server[]): Promise<void> {
  await Promise.all(
    servers.map((server) =>
      new Promise<void>((resolve) => server.close(() => resolve()))
    ),
  );
}

/** `sessions exec ARGS; echo "status=$?"` in a fresh pane. */
function execInPane(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  around: { before?: string; redirect?: string } = {},
): Promise<Pty> {
  return Pty.start({
    command: [
      around.before,
      // The shell reports the status: tmux is sometimes slow to mark a pane dead.
      `${sessionsShellLine(["exec", ...args])}${
        around.redirect ? ` ${around.redirect}` : ""
      }; echo "status=$?"`,
    ].filter((part) => part).join("; "),
    env,
    cwd,
    cols: 200,
    rows: 40,
  });
}

/**
 * Waits for the status line, then returns everything the pane showed,
 * scrolled-off lines too: when the program ends, tmux's "Pane is dead" line
 * can scroll the first line off the screen.
 */
async function finished(pty: Pty): Promise<string> {
  await pty.waitFor(/status=\d+/, 30_000);
  return await pty.tmux.ok([
    "capture-pane",
    "-p",
    "-J",
    "-S",
    "-",
    "-t",
    "=pty:",
  ]);
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

Deno.test("sessions exec --ask-pass on a terminal: one password for every host", async (t) => {
  const { dir, env } = await makeDir("sessions-exec-askpass-");
  const password = "open sesame";
  const servers = await startPasswordHosts(dir, 3, password);
  try {
    const knownHosts = join(dir, "known_hosts");
    await Deno.writeTextFile(knownHosts, servers.knownHosts);
    const config = join(dir, "ssh_config");
    await Deno.writeTextFile(
      config,
      [
        ...servers.hosts.flatMap((host, i) => [
          `Host h${i + 1}`,
          `  HostName ${host.address}`,
          `  Port ${host.port}`,
        ]),
        "Host *",
        "  User tester",
        `  UserKnownHostsFile ${knownHosts}`,
        "",
      ].join("\n"),
    );
    const reset = () => {
      for (const host of servers.hosts) {
        host.connections = 0;
        host.passwords.length = 0;
        host.commands.length = 0;
      }
    };
    /** Runs `echo hi` with --ask-pass on h1..h3 and waits for the one prompt. */
    const startAsking = async (extra: string[]) => {
      reset();
      const pty = await execInPane(
        [
          "-F",
          config,
          "--ask-pass",
          "--targets",
          "h1,h2,h3",
          ...extra,
          "echo hi",
        ],
        env,
        dir,
      );
      try {
        await pty.waitFor(
          (screen) => screen.endsWith(PASSWORD_PROMPT.trimEnd()),
          30_000,
        );
      } catch (error) {
        await pty.dispose();
        throw error;
      }
      return pty;
    };

    await t.step(
      "asked once, then every host runs the command, in parallel",
      async () => {
        const pty = await startAsking(["--parallel"]);
        try {
          await pty.typeLine(password);
          const screen = await finished(pty);
          assert.equal(count(screen, PASSWORD_PROMPT.trimEnd()), 1, screen);
          assert.match(screen, /status=0\b/);
          servers.hosts.forEach((host, i) => {
            assert.match(
              screen,
              new RegExp(
                `^h${i + 1} \\| served by ${
                  host.address.replaceAll(".", "\\.")
                }$`,
                "m",
              ),
            );
            // One password offered per host, the one typed once.
            assert.deepEqual(host.passwords, [password]);
            assert.deepEqual(host.commands, ["echo hi"]);
          });
          assert.match(screen, /^3 hosts: 3 succeeded$/m);
          assert.ok(!screen.includes(password), "the password was echoed");
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "a wrong password refuses every host (auth, exit 7) without asking again",
      async () => {
        // One host after another: a prompt per host would stop the run at the second.
        const pty = await startAsking([]);
        try {
          await pty.typeLine("not it");
          const screen = await finished(pty);
          assert.equal(count(screen, PASSWORD_PROMPT.trimEnd()), 1, screen);
          assert.match(screen, /status=7\b/);
          for (const label of ["h1", "h2", "h3"]) {
            assert.match(
              screen,
              new RegExp(
                `^${label} ! sessions: auth: permission denied \\(password\\)$`,
                "m",
              ),
            );
          }
          assert.match(screen, /^3 hosts: 3 refused$/m);
          assert.match(
            screen,
            /^ {2}refused \(auth\): h\[1-3\] \(permission denied \(password\)\)$/m,
          );
          for (const host of servers.hosts) {
            assert.deepEqual(host.passwords, ["not it"]);
            assert.deepEqual(host.commands, []);
          }
          assert.ok(!screen.includes("not it"), "the password was echoed");
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "Ctrl-D at the prompt: one line, and no host is contacted",
      async () => {
        const pty = await startAsking(["--parallel"]);
        try {
          await pty.press("C-d");
          const screen = await finished(pty);
          assert.equal(count(screen, PASSWORD_PROMPT.trimEnd()), 1, screen);
          // Nothing ran: a usage outcome (2), not an unreachable host (7).
          assert.match(
            screen,
            /^sessions: no password given for --ask-pass \(run again/m,
          );
          assert.match(screen, /^status=2$/m);
          assert.doesNotMatch(screen, /hosts?:|at .*\.ts:\d+/);
          for (const host of servers.hosts) {
            assert.equal(host.connections, 0);
          }
        } finally {
          await pty.dispose();
        }
      },
    );
  } finally {
    await servers.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/**
 * Three real sshds whose command waits for its own `go-ADDRESS` file and
 * exits with the number in it, so the test decides when each host finishes
 * (and how) instead of guessing with timers.
 */
interface ProgressWorld {
  dir: string;
  env: Record<string, string>;
  cluster: SshdCluster;
  config: string;
  knownHosts: string;
  targets: string;
  /** The remote command: wait for go-ADDRESS, print the address, exit with the file's number. */
  gated: string;
  release(address: string, status: number): Promise<void>;
  /** Removes every go file, so the next gated run waits again. */
  closeGates(): Promise<void>;
}

async function startProgressWorld(): Promise<
  ProgressWorld & { cleanUp(): Promise<void> }
> {
  const { dir, env } = await makeDir("sessions-exec-progress-");
  const keys = await createClientKeys(join(dir));
  const cluster = await startSshd({ count: 3, keys });
  const { knownHosts, sshConfig: config } = await writeClusterSshFiles(
    dir,
    cluster,
    keys.key,
  );
  const gates = join(dir, "gates");
  await Deno.mkdir(gates);
  const go = `${shellQuote(gates)}/go-"$3"`;
  return {
    dir,
    env,
    cluster,
    config,
    knownHosts,
    targets: cluster.addresses.join(","),
    gated:
      `set -- $SSH_CONNECTION; while [ ! -e ${go} ]; do sleep 0.1; done; ` +
      `echo "$3"; exit "$(cat ${go})"`,
    async release(address, status) {
      // Written whole, then renamed: the command never reads a half-written file.
      const temp = join(gates, `.tmp-${address}`);
      await Deno.writeTextFile(temp, `${status}\n`);
      await Deno.rename(temp, join(gates, `go-${address}`));
    },
    async closeGates() {
      for await (const entry of Deno.readDir(gates)) {
        await Deno.remove(join(gates, entry.name));
      }
    },
    async cleanUp() {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Starts `sessions exec ARGS` in a pane whose every output byte is copied to
 * a log (tmux pipe-pane) from the first one on: the program waits for a
 * start file until the pipe is in place. The log shows what the screen
 * cannot, e.g. a progress line drawn and erased in between two captures.
 */
async function execLogged(
  world: ProgressWorld,
  name: string,
  args: string[],
  redirect?: string,
): Promise<{ pty: Pty; log: () => Promise<string> }> {
  const start = join(world.dir, `start-${name}`);
  const logPath = join(world.dir, `pane-${name}.log`);
  const pty = await execInPane(
    ["-F", world.config, ...args],
    world.env,
    world.dir,
    {
      before: `while [ ! -e ${shellQuote(start)} ]; do sleep 0.1; done`,
      redirect,
    },
  );
  try {
    await pty.tmux.ok([
      "pipe-pane",
      "-t",
      "=pty:",
      `cat >> ${shellQuote(logPath)}`,
    ]);
    await Deno.writeTextFile(start, "");
  } catch (error) {
    await pty.dispose();
    throw error;
  }
  return {
    pty,
    // The status line is the pane's last output: once it is in the log, all is.
    log: async () => {
      for (let i = 0; i < 100; i++) {
        const text = await Deno.readTextFile(logPath).catch(() => "");
        if (/status=\d+/.test(text)) return text;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`no status line in the pane's log ${logPath}`);
    },
  };
}

/**
 * Every progress line drawn must be erased (`\r` + erase-to-end-of-line)
 * before anything else is written, or text would be appended to it.
 */
function assertProgressAlwaysErased(log: string): void {
  const drawn = new RegExp(PROGRESS.source, "g");
  let draws = 0;
  for (const match of log.matchAll(drawn)) {
    draws++;
    const after = log.slice(match.index + match[0].length);
    assert.ok(
      after.startsWith("\r\x1b[K"),
      `progress line ${JSON.stringify(match[0])} followed by ${
        JSON.stringify(after.slice(0, 80))
      }`,
    );
  }
  assert.ok(draws > 0, "no progress line was drawn");
}

Deno.test("sessions exec on a terminal: the progress line", async (t) => {
  const world = await startProgressWorld();
  const [a, b, c] = world.cluster.addresses;
  try {
    await t.step(
      "--json: counts while running, gone before the records and the summary",
      async () => {
        const { pty, log } = await execLogged(world, "json", [
          "--targets",
          world.targets,
          "--parallel",
          "--json",
          world.gated,
        ]);
        try {
          await pty.waitFor(/^0\/3 done, 3 running$/m, 30_000);
          await world.release(a, 0);
          await pty.waitFor(/^1\/3 done, 2 running$/m, 30_000);
          await world.release(b, 3);
          await pty.waitFor(/^2\/3 done, 1 not ok, 1 running$/m, 30_000);
          await world.release(c, 0);
          const screen = await finished(pty);
          assert.match(screen, /status=6\b/);
          assert.doesNotMatch(screen, PROGRESS);
          const records = screen.split("\n").filter((line) =>
            line.startsWith("{")
          ).map((line) => JSON.parse(line));
          assert.deepEqual(
            records.map((record) => [record.target, record.exit_code]),
            [[a, 0], [b, 3], [c, 0]],
          );
          assert.match(screen, /^3 hosts: 2 succeeded, 1 failed$/m);
          assertProgressAlwaysErased(await log());
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "blocks, one host at a time, stdout to a file: on the terminal, stdout clean",
      async () => {
        await world.closeGates();
        const out = join(world.dir, "blocks.out");
        const { pty, log } = await execLogged(
          world,
          "blocks",
          ["--targets", world.targets, "--output", "blocks", world.gated],
          `> ${shellQuote(out)}`,
        );
        try {
          await pty.waitFor(/^0\/3 done, 1 running$/m, 30_000);
          await world.release(a, 0);
          await pty.waitFor(/^1\/3 done, 1 running$/m, 30_000);
          await world.release(b, 0);
          await world.release(c, 0);
          const screen = await finished(pty);
          assert.match(screen, /status=0\b/);
          assert.doesNotMatch(screen, PROGRESS);
          assert.match(screen, /^3 hosts: 3 succeeded$/m);
          assert.equal(
            await Deno.readTextFile(out),
            [a, b, c].map((address) =>
              `--- ${address} (exit 0) ---\n${address}\n`
            ).join(""),
          );
          assertProgressAlwaysErased(await log());
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "not drawn over the host-key question; shown once it is answered",
      async () => {
        await Deno.writeTextFile(world.knownHosts, "");
        await world.closeGates();
        const { pty, log } = await execLogged(world, "question", [
          "--targets",
          world.targets,
          "--parallel",
          "--json",
          world.gated,
        ]);
        try {
          await pty.waitFor(/\(yes\/no\)\?$/, 30_000);
          // Past the progress line's one-second delay, the question must still be intact.
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          const asking = await pty.screen();
          assert.match(asking, /\(yes\/no\)\?$/);
          assert.doesNotMatch(asking, PROGRESS);
          await pty.typeLine("yes");
          await pty.waitFor(/^0\/3 done, 3 running$/m, 30_000);
          for (const address of [a, b, c]) await world.release(address, 0);
          const screen = await finished(pty);
          assert.match(screen, /status=0\b/);
          assert.doesNotMatch(screen, PROGRESS);
          const text = await log();
          const question = text.indexOf("(yes/no)?");
          assert.ok(question >= 0, text);
          assert.doesNotMatch(text.slice(0, question), PROGRESS);
          assertProgressAlwaysErased(text);
        } finally {
          await pty.dispose();
          // The later steps need the keys known, whatever happened here.
          await Deno.writeTextFile(world.knownHosts, world.cluster.knownHosts);
        }
      },
    );

    // Each of these runs lasts over a second (the remote `sleep 2`), so a
    // progress line would have been drawn if it were going to be.
    const slow = 'sleep 2; set -- $SSH_CONNECTION; echo "$3"';

    await t.step(
      "never in lines mode, where the output itself streams to the terminal",
      async () => {
        const { pty, log } = await execLogged(world, "lines", [
          "--targets",
          world.targets,
          "--parallel",
          slow,
        ]);
        try {
          const screen = await finished(pty);
          assert.match(screen, /status=0\b/);
          for (const address of [a, b, c]) {
            const label = address.padEnd(
              Math.max(a.length, b.length, c.length),
            );
            assert.ok(screen.includes(`${label} | ${address}`), screen);
          }
          const text = await log();
          assert.doesNotMatch(text, PROGRESS);
          assert.ok(!text.includes("\x1b[K"), JSON.stringify(text));
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step("never when stderr is not a terminal", async () => {
      const err = join(world.dir, "json.err");
      const { pty, log } = await execLogged(
        world,
        "stderr-file",
        ["--targets", world.targets, "--parallel", "--json", slow],
        `2> ${shellQuote(err)}`,
      );
      try {
        const screen = await finished(pty);
        assert.match(screen, /status=0\b/);
        const stderr = await Deno.readTextFile(err);
        assert.equal(stderr, "3 hosts: 3 succeeded\n");
        assert.doesNotMatch(await log(), PROGRESS);
      } finally {
        await pty.dispose();
      }
    });
  } finally {
    await world.cleanUp();
  }
});

Deno.test("sessions exec under `deno task`: one Ctrl-C stops the run, though the wrapper forwards it again", async () => {
  const world = await startProgressWorld();
  const root = new URL("..", import.meta.url).pathname;
  try {
    const pty = await Pty.start({
      // The pane's shell gets the Ctrl-C too: a trap keeps it for the status.
      command: `trap : INT; cd ${
        shellQuote(root)
      } && deno task -q sessions exec -F ${
        shellQuote(world.config)
      } --targets ${world.targets} --parallel --output blocks ${
        shellQuote(world.gated)
      }; echo "status=$?"`,
      env: world.env,
      cwd: world.dir,
      cols: 200,
      rows: 40,
    });
    try {
      await pty.waitFor(/^0\/3 done, 3 running$/m, 30_000);
      // The terminal sends SIGINT to deno task and to sessions; deno task
      // then sends sessions another. Counted as two, that quit at once and
      // left the three commands running.
      await pty.press("C-c");
      const screen = await finished(pty);
      assert.match(screen, /status=130\b/);
      assert.match(screen, /^3 hosts: 3 interrupted$/m);
      // The remote commands (run here by the loopback sshds) are gone; the
      // pane's own shell line names the gates too, and stays.
      const left = (await processesMatching(`${world.dir}/gates`)).split("\n")
        .filter((line) => line !== "" && !line.includes("deno task"));
      assert.deepEqual(left, []);
    } finally {
      await pty.dispose();
    }
  } finally {
    await world.cleanUp();
  }
});

Deno.test("sessions exec --targets-file - on a terminal is refused at once, not a silent wait", async () => {
  const { dir, env } = await makeDir("sessions-exec-stdin-");
  try {
    const pty = await execInPane(["--targets-file", "-", "true"], env, dir);
    try {
      const screen = await finished(pty);
      assert.match(screen, /status=2\b/);
      assert.match(
        screen,
        /sessions: --targets-file - reads standard input, which is a terminal/,
      );
    } finally {
      await pty.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
