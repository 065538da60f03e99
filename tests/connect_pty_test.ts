/**
 * `sessions connect` end to end: a real sshd on loopback, `sessions` in a
 * pane of a private tmux server (a real PTY), typed into and read back.
 * Nothing here touches the user's files: HOME is a temp dir, the ssh config
 * comes from -F, known_hosts is a temp file, and the remote tmux runs on a
 * private socket dir (the sshd sets TMUX_TMPDIR for its sessions).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import ssh2 from "ssh2";
import { Pty } from "./helpers/pty.ts";
import { sessionsShellLine } from "./helpers/sessions.ts";
import {
  type ClientKeys,
  closedPort,
  createClientKeys,
  descendantsOf,
  generateHostKey,
  type SshdCluster,
  startSshd,
} from "./helpers/sshd.ts";

const HOST = "testhost";

interface World {
  dir: string;
  home: string;
  keys: ClientKeys;
  /** TMUX_TMPDIR of the remote side's tmux (with a trailing slash, so `"$TMUX_TMPDIR"X` stays inside it). */
  remoteTmux: string;
  /** SCREENDIR of the remote side's screen (mode 700, as screen insists). */
  remoteScreen: string;
}

async function makeWorld(): Promise<World> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sessions-cpty-" });
  const home = join(dir, "home");
  await Deno.mkdir(join(home, ".ssh"), { recursive: true });
  const remoteTmux = join(dir, "rtmux") + "/";
  await Deno.mkdir(remoteTmux);
  const remoteScreen = join(dir, "rscreen");
  await Deno.mkdir(remoteScreen, { mode: 0o700 });
  await Deno.chmod(remoteScreen, 0o700);
  return {
    dir,
    home,
    keys: await createClientKeys(join(dir)),
    remoteTmux,
    remoteScreen,
  };
}

function startHost(world: World, hostKey?: SshdCluster["hostKey"]) {
  return startSshd({
    count: 1,
    keys: world.keys,
    hostKey,
    extraConfig: [
      `SetEnv TMUX_TMPDIR=${world.remoteTmux} SCREENDIR=${world.remoteScreen}`,
    ],
  });
}

/** Runs FN with a fresh world and one sshd, and ends everything it started. */
async function withHost(
  fn: (world: World, cluster: SshdCluster) => Promise<void>,
): Promise<void> {
  const world = await makeWorld();
  const cluster = await startHost(world);
  try {
    await fn(world, cluster);
  } finally {
    await remoteTmux(world, ["kill-server"]);
    await stopRemoteScreens(world);
    await cluster.stop();
    await Deno.remove(world.dir, { recursive: true }).catch(() => {});
  }
}

/** Writes the -F config naming CLUSTER as `testhost`, and a known_hosts file that knows its key. */
async function writeConfig(
  world: World,
  cluster: SshdCluster,
  name: string,
  extraLines: string[] = [],
): Promise<{ config: string; knownHosts: string }> {
  const knownHosts = join(world.dir, `known_hosts-${name}`);
  await Deno.writeTextFile(knownHosts, cluster.knownHosts);
  const config = join(world.dir, `ssh_config-${name}`);
  await Deno.writeTextFile(
    config,
    [
      `Host ${HOST}`,
      `  HostName ${cluster.addresses[0]}`,
      `  Port ${cluster.port}`,
      `  User ${cluster.user}`,
      `  IdentityFile ${world.keys.key}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${knownHosts}`,
      ...extraLines.map((line) => `  ${line}`),
      "",
    ].join("\n"),
  );
  return { config, knownHosts };
}

/** A pane running an interactive /bin/sh, with no agent unless ENV names one. */
function outerShell(
  world: World,
  env: Record<string, string> = {},
): Promise<Pty> {
  const denoDir = Deno.env.get("DENO_DIR") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
  return Pty.start({
    command: "/bin/sh",
    cols: 100,
    rows: 30,
    cwd: world.dir,
    env: {
      HOME: world.home,
      PS1: "outer$ ",
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      SSH_AUTH_SOCK: "",
      NO_COLOR: "1",
      ...env,
    },
  });
}

/** Types `sessions connect ARGS; echo "rc=$?"` into the outer shell. */
async function connect(pty: Pty, args: string[]): Promise<void> {
  await pty.typeLine(
    `${sessionsShellLine(["connect", ...args])}; echo "rc=$?"`,
  );
}

/**
 * Echoes LABEL and TMUX_TMPDIR remotely and waits for the answer: only the
 * remote side has the sshd's TMUX_TMPDIR, so the outer shell cannot fake it.
 */
async function remoteEcho(
  pty: Pty,
  world: World,
  label: string,
): Promise<void> {
  await pty.typeLine(`echo "${label}=$TMUX_TMPDIR"`);
  await pty.waitFor(
    (screen) => screen.split("\n").includes(`${label}=${world.remoteTmux}`),
    20_000,
  );
}

/** The PID of the `sessions` process running in the pane. */
async function sessionsPid(pty: Pty): Promise<number> {
  const panePid = Number(
    (await pty.tmux.ok(["display-message", "-p", "-t", "=pty:", "#{pane_pid}"]))
      .trim(),
  );
  const found = descendantsOf(panePid).filter((pid) => {
    try {
      const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
      return argv.some((arg) => arg.endsWith("main.ts")) &&
        argv.includes("connect");
    } catch {
      return false;
    }
  });
  assert.equal(found.length, 1, `sessions processes: ${found}`);
  return found[0];
}

/** Ends the screen sessions the remote side started (by PID, from their socket names). */
async function stopRemoteScreens(world: World): Promise<void> {
  for await (const entry of Deno.readDir(world.remoteScreen)) {
    const pid = Number(entry.name.split(".")[0]);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* already gone */ }
    }
  }
}

async function onPath(program: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", 'command -v "$1"', "sh", program],
    stdout: "null",
    stderr: "null",
  }).output();
  return found.success;
}

/** `stty -a` of the outer shell, saved as NAME in the test's directory. */
async function outerStty(
  pty: Pty,
  world: World,
  name: string,
): Promise<string> {
  await pty.typeLine(`stty -a > ${name}; echo "saved=${name}"`);
  await pty.waitFor(new RegExp(`^saved=${name}$`, "m"));
  return (await Deno.readTextFile(join(world.dir, name))).trim();
}

async function remoteTmux(world: World, args: string[]) {
  const output = await new Deno.Command("tmux", {
    args,
    env: { TMUX_TMPDIR: world.remoteTmux, TMUX: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

Deno.test("sessions connect in a real terminal", async (t) => {
  await withHost(async (world, cluster) => {
    const { config, knownHosts } = await writeConfig(world, cluster, "main");

    await t.step(
      "output comes back, the remote exit status is ours, the terminal is restored",
      async () => {
        const pty = await outerShell(world);
        try {
          const before = await outerStty(pty, world, "stty-before");
          await connect(pty, ["-F", config, HOST]);
          await remoteEcho(pty, world, "hello");
          await pty.typeLine("stty size");
          await pty.waitFor(/^30 100$/m);
          await pty.resize(120, 40);
          await pty.typeLine("stty size");
          await pty.waitFor(/^40 120$/m);
          await pty.typeLine("sleep 60 && echo slept-$((2+3))");
          await pty.waitFor(/sleep 60 && echo slept-\S+\s*$/);
          await pty.press("C-c");
          await pty.typeLine('echo "status-$?"');
          await pty.waitFor(/^status-130\s*$/m);
          await remoteEcho(pty, world, "alive");
          assert.doesNotMatch(await pty.screen(), /^slept-5/m);
          await pty.typeLine("exit 7");
          await pty.waitFor(/^rc=7$/m, 20_000);
          // The pane was resized meanwhile: compare everything but the size.
          const strip = (text: string) =>
            text.replace(/rows \d+; columns \d+;/, "");
          assert.equal(
            strip(await outerStty(pty, world, "stty-after")),
            strip(before),
          );
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "--command runs the command with a terminal; a remote signal death is 128 + N",
      async () => {
        const pty = await outerShell(world);
        try {
          // A --key that does not exist is named; the config's key logs in.
          const missing = join(world.dir, "id_typo");
          await connect(pty, [
            "-F",
            config,
            HOST,
            "--key",
            missing,
            "--command",
            "test -t 0 && echo tty-$((6*7)); exit 3",
          ]);
          await pty.waitFor(/^tty-42\s*$/m, 20_000);
          assert.match(
            await pty.screen(),
            /identity file \S*id_typo not accessible: no such file/,
          );
          await pty.waitFor(/^rc=3$/m);
          await pty.typeLine("clear");
          await connect(pty, [
            "-F",
            config,
            HOST,
            "--command",
            "kill -TERM $$",
          ]);
          await pty.waitFor(/^rc=143$/m, 20_000);
          // A host that cannot be reached is named with its port, as ssh does.
          await pty.typeLine("clear");
          const address = cluster.addresses[0];
          const port = closedPort(address);
          await connect(pty, ["-F", config, HOST, "--port", String(port)]);
          await pty.waitFor(/^rc=255$/m, 20_000);
          assert.ok(
            (await pty.screen()).includes(
              `sessions: ${address} port ${port}: connection refused\n`,
            ),
            await pty.screen(),
          );
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "a full-screen program works, and SIGTERM to sessions restores the terminal",
      async () => {
        const pty = await outerShell(world);
        try {
          const before = await outerStty(pty, world, "stty-before");
          await connect(pty, ["-F", config, HOST, "--command", "top -d 1"]);
          await pty.waitFor(/load average.*[\s\S]*PID\s+USER/, 20_000);
          await pty.press("q");
          await pty.waitFor(/^rc=0$/m, 20_000);
          await pty.typeLine("clear");
          await connect(pty, ["-F", config, HOST]);
          await remoteEcho(pty, world, "before-term");
          Deno.kill(await sessionsPid(pty), "SIGTERM");
          await pty.waitFor(/^rc=143$/m, 20_000);
          assert.equal(await outerStty(pty, world, "stty-after"), before);
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "--session with --backend screen survives the client being killed",
      async () => {
        let pty = await outerShell(world);
        try {
          await connect(pty, [
            "-F",
            config,
            HOST,
            "--session",
            "work",
            "--backend",
            "screen",
          ]);
          await pty.typeLine("MARKER=kept; sleep 4343 &");
          await remoteEcho(pty, world, "in-screen");
          assert.match(
            (await pty.screen()).split("\n").join(" "),
            /in-screen/,
          );
          // No chance to clean up: the remote side only sees the connection drop.
          Deno.kill(await sessionsPid(pty), "SIGKILL");
        } finally {
          await pty.dispose();
        }
        pty = await outerShell(world);
        try {
          await connect(pty, [
            "-F",
            config,
            HOST,
            "--backend",
            "screen",
            "--session",
            "work",
          ]);
          await pty.typeLine('clear; echo "marker=$MARKER"; jobs');
          await pty.waitFor(/^marker=kept\s*$/m, 20_000);
          await pty.waitFor(/sleep 4343/);
          await pty.typeLine("kill %1; exit");
          await pty.waitFor(/^rc=0$/m, 20_000);
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step({
      name: "--session with a multiplexer the host lacks says so and exits 5",
      // zellij cannot be installed on these machines; where it is, there is nothing to test here.
      ignore: await onPath("zellij"),
      fn: async () => {
        const pty = await outerShell(world);
        try {
          await connect(pty, [
            "-F",
            config,
            HOST,
            "--session",
            "work",
            "--backend",
            "zellij",
          ]);
          const screen = await pty.waitFor(/^rc=\d+$/m, 20_000);
          assert.match(screen, /^rc=5$/m);
          assert.match(screen, /sessions: zellij is not installed on testhost/);
        } finally {
          await pty.dispose();
        }
      },
    });

    await t.step(
      "an unknown host key is asked about: no writes nothing, yes records one line",
      async () => {
        await Deno.writeTextFile(knownHosts, "");
        const pty = await outerShell(world);
        try {
          await connect(pty, ["-F", config, HOST]);
          await pty.waitFor(/\(yes\/no\)\? *$/, 20_000);
          const screen = await pty.screen();
          assert.ok(
            screen.includes(cluster.hostKey.fingerprint),
            `fingerprint ${cluster.hostKey.fingerprint} not shown:\n${screen}`,
          );
          await pty.typeLine("no");
          await pty.waitFor(/^rc=255$/m);
          assert.equal(await Deno.readTextFile(knownHosts), "");

          await pty.typeLine("clear");
          await connect(pty, ["-F", config, HOST]);
          await pty.waitFor(/\(yes\/no\)\? *$/, 20_000);
          await pty.typeLine("yes");
          await remoteEcho(pty, world, "accepted");
          await pty.typeLine("exit");
          await pty.waitFor(/^rc=0$/m);
          const lines = (await Deno.readTextFile(knownHosts)).split("\n")
            .filter((line) => line !== "");
          assert.equal(lines.length, 1);
          assert.ok(
            lines[0].includes(cluster.hostKey.publicLine.split(" ")[1]),
          );
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "a changed host key is refused loudly, naming the known_hosts line",
      async () => {
        const other = await generateHostKey(world.dir);
        const before = `# a comment first\n[${
          cluster.addresses[0]
        }]:${cluster.port} ${other.publicLine}\n`;
        await Deno.writeTextFile(knownHosts, before);
        const pty = await outerShell(world);
        try {
          await connect(pty, ["-F", config, HOST]);
          const screen = await pty.waitFor(/^rc=255$/m, 20_000);
          assert.match(screen, /WARNING|IDENTIFICATION HAS CHANGED|changed/i);
          assert.ok(
            screen.replace(/\n/g, "").includes(`${knownHosts}:2`),
            `known_hosts line not named:\n${screen}`,
          );
          assert.equal(await Deno.readTextFile(knownHosts), before);
        } finally {
          await pty.dispose();
        }
        await Deno.writeTextFile(knownHosts, cluster.knownHosts);
      },
    );

    await t.step(
      "--session survives the local client being killed",
      async () => {
        let pty = await outerShell(world);
        try {
          await connect(pty, ["-F", config, HOST, "--session", "work"]);
          await pty.typeLine("MARKER=survived; sleep 4242 &");
          await remoteEcho(pty, world, "in-session");
          const sessions = await remoteTmux(world, [
            "list-sessions",
            "-F",
            "#{session_name}",
          ]);
          assert.equal(sessions.stdout, "work\n");
        } finally {
          // Ends the outer server: the pane's processes, `sessions` among them, get SIGHUP.
          await pty.dispose();
        }
        pty = await outerShell(world);
        try {
          await connect(pty, ["-F", config, HOST, "--session", "work"]);
          await pty.typeLine('clear; echo "marker=$MARKER"; jobs');
          await pty.waitFor(/^marker=survived$/m, 20_000);
          await pty.waitFor(/sleep 4242/);
          await pty.typeLine("kill %1; exit");
          await pty.waitFor(/^rc=0$/m, 20_000);
        } finally {
          await pty.dispose();
        }
      },
    );

    await t.step(
      "a session name with shell metacharacters is that name and runs nothing",
      async () => {
        // The remote shell starts in the sshd user's home (this user's): a payload that ran would leave this file there.
        const marker = `pw-${crypto.randomUUID().slice(0, 8)}`;
        const name =
          `x'; touch ${marker}; echo '\`touch ${marker}\`|&;<>*?~!"(`;
        const markerPath = join(Deno.env.get("HOME") ?? "/root", marker);
        const pty = await outerShell(world);
        try {
          await pty.typeLine(
            `${
              sessionsShellLine([
                "connect",
                "-F",
                config,
                HOST,
                "--session",
                name,
              ])
            }; echo "rc=$?"`,
          );
          await remoteEcho(pty, world, "odd");
          // tmux escapes some characters in its list output: ask for the exact name instead.
          const exact = await remoteTmux(world, [
            "has-session",
            "-t",
            `=${name}`,
          ]);
          assert.equal(exact.code, 0);
          const sessions = await remoteTmux(world, [
            "list-sessions",
            "-F",
            "#{session_id}",
          ]);
          assert.equal(sessions.stdout.trim().split("\n").length, 1);
          await pty.typeLine("exit");
          await pty.waitFor(/^rc=0$/m, 20_000);
          // tmux would run #(…) in a name itself (it expands -s as a format): refused.
          await pty.typeLine("clear");
          await connect(pty, [
            "-F",
            config,
            HOST,
            "--session",
            `#(touch ${marker})`,
          ]);
          const screen = await pty.waitFor(/^rc=\d+$/m, 20_000);
          assert.match(screen, /^rc=2$/m);
          assert.match(screen, /cannot contain '#'/);
        } finally {
          await pty.dispose();
        }
        const ran = await Deno.stat(markerPath).then(() => true, () => false);
        await Deno.remove(markerPath).catch(() => {});
        assert.equal(ran, false, "the session name ran a command");
      },
    );
  });
});

Deno.test("sessions connect: a lost connection says so, exits 255 and restores the terminal", async () => {
  await withHost(async (world, cluster) => {
    const { config } = await writeConfig(world, cluster, "lost");
    const pty = await outerShell(world);
    try {
      const before = await outerStty(pty, world, "stty-before");
      await connect(pty, ["-F", config, HOST]);
      await remoteEcho(pty, world, "connected");
      await cluster.stop();
      const screen = await pty.waitFor(/^rc=255$/m, 30_000);
      assert.match(screen, new RegExp(`connection to ${HOST} lost`));
      assert.equal(await outerStty(pty, world, "stty-after"), before);
    } finally {
      await pty.dispose();
    }
  });
});

Deno.test("sessions connect: the passphrase prompt hides what is typed, gives up after three tries, and Ctrl-C there restores the terminal", async () => {
  await withHost(async (world, cluster) => {
    const { config } = await writeConfig(world, cluster, "pass");
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace(
        world.keys.key,
        world.keys.encryptedKey,
      ),
    );
    const prompt = /Enter passphrase for key '[^']+': *$/;
    const pty = await outerShell(world);
    try {
      const before = await outerStty(pty, world, "stty-before");
      await connect(pty, ["-F", config, HOST]);
      await pty.waitFor(prompt, 20_000);
      await pty.press("C-c");
      await pty.waitFor(/^rc=130$/m);
      assert.equal(await outerStty(pty, world, "stty-after"), before);

      await pty.typeLine("clear");
      await connect(pty, ["-F", config, HOST]);
      await pty.waitFor(prompt, 20_000);
      await pty.typeLine(world.keys.passphrase);
      await remoteEcho(pty, world, "unlocked");
      assert.doesNotMatch(await pty.screen(), /correct horse/);
      await pty.typeLine("exit");
      await pty.waitFor(/^rc=0$/m);

      await pty.typeLine("clear");
      await connect(pty, ["-F", config, HOST]);
      for (let attempt = 0; attempt < 3; attempt++) {
        await pty.waitFor(
          attempt === 0 ? prompt : /Bad passphrase, try again for .*: *$/,
          20_000,
        );
        await pty.typeLine(`wrong ${attempt}`);
      }
      const screen = await pty.waitFor(/^rc=255$/m, 20_000);
      assert.match(screen, /^sessions: .*passphrase/m);
    } finally {
      await pty.dispose();
    }
  });
});

Deno.test("sessions connect: keepalive notices a frozen server", async () => {
  await withHost(async (world, cluster) => {
    const { config } = await writeConfig(world, cluster, "frozen", [
      "ServerAliveInterval 1",
      "ServerAliveCountMax 2",
    ]);
    const frozen: number[] = [];
    const pty = await outerShell(world);
    try {
      await connect(pty, ["-F", config, HOST]);
      await remoteEcho(pty, world, "connected");
      for (const pid of [cluster.pids[0], ...descendantsOf(cluster.pids[0])]) {
        Deno.kill(pid, "SIGSTOP");
        frozen.push(pid);
      }
      const screen = await pty.waitFor(/^rc=255$/m, 30_000);
      assert.match(screen, new RegExp(`connection to ${HOST} lost`));
    } finally {
      for (const pid of frozen) {
        try {
          Deno.kill(pid, "SIGCONT");
        } catch { /* already gone */ }
      }
      await pty.dispose();
    }
  });
});

Deno.test("sessions connect: -A forwards the local agent, without it none is forwarded", async () => {
  await withHost(async (world, cluster) => {
    const agentSocket = join(world.dir, "agent.sock");
    const agent = new Deno.Command("ssh-agent", {
      args: ["-D", "-a", agentSocket],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      while (!(await Deno.stat(agentSocket).then(() => true, () => false))) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const added = await new Deno.Command("ssh-add", {
        args: [world.keys.key],
        env: { SSH_AUTH_SOCK: agentSocket },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      assert.equal(added.code, 0);
      const { config } = await writeConfig(world, cluster, "agent");
      const pty = await outerShell(world, { SSH_AUTH_SOCK: agentSocket });
      try {
        await connect(pty, ["-F", config, HOST, "-A"]);
        await remoteEcho(pty, world, "forwarded");
        await pty.typeLine('ssh-add -l; echo "agent-rc=$?"');
        const screen = await pty.waitFor(/^agent-rc=\d+\s*$/m, 20_000);
        assert.match(screen, /^agent-rc=0\s*$/m);
        assert.match(screen, /sessions-test/);
        await pty.typeLine("exit");
        await pty.waitFor(/^rc=0$/m, 20_000);

        await pty.typeLine("clear");
        await connect(pty, ["-F", config, HOST]);
        await remoteEcho(pty, world, "plain");
        await pty.typeLine('echo "sock=[$SSH_AUTH_SOCK]"');
        await pty.waitFor(/^sock=\[\]\s*$/m, 20_000);
        await pty.typeLine("exit");
        await pty.waitFor(/^rc=0$/m, 20_000);
      } finally {
        await pty.dispose();
      }
    } finally {
      agent.kill("SIGTERM");
      await agent.status;
    }
  });
});

/**
 * The harness's sshd cannot check passwords (no PAM, and the test user's
 * password is not ours to know): an ssh2 server in this process on loopback
 * offers only "password" and accepts one.
 */
async function startPasswordServer(
  dir: string,
  password: string,
): Promise<{ port: number; knownHosts: string; close(): Promise<void> }> {
  const hostKey = await generateHostKey(dir);
  const server = new ssh2.Server(
    { hostKeys: [await Deno.readTextFile(hostKey.path)] },
    (client) => {
      let tries = 0;
      client.on("authentication", (context) => {
        if (context.method === "password") {
          tries++;
          if (context.password === password) return context.accept();
        }
        context.reject(["password"]);
      });
      client.on("ready", () => {
        client.on("session", (accept) => {
          const session = accept();
          session.on("pty", (acceptPty) => acceptPty?.());
          session.on("shell", (acceptShell) => {
            const channel = acceptShell();
            channel.write(`welcome after ${tries} tries\r\n`);
            channel.exit(0);
            channel.end();
          });
        });
      });
      client.on("error", () => {});
    },
  );
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const port = (server.address() as { port: number }).port;
  return {
    port,
    knownHosts: `[127.0.0.1]:${port} ${hostKey.publicLine}\n`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

Deno.test("sessions connect: password prompts, three tries, then a clear refusal", async () => {
  const world = await makeWorld();
  const server = await startPasswordServer(world.dir, "open sesame");
  try {
    const knownHosts = join(world.dir, "known_hosts-password");
    await Deno.writeTextFile(knownHosts, server.knownHosts);
    const config = join(world.dir, "ssh_config-password");
    await Deno.writeTextFile(
      config,
      [
        `Host ${HOST}`,
        "  HostName 127.0.0.1",
        `  Port ${server.port}`,
        "  User tester",
        `  IdentityFile ${world.keys.unauthorizedKey}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${knownHosts}`,
        "",
      ].join("\n"),
    );
    const prompt = /tester@127\.0\.0\.1's password: *$/;
    const pty = await outerShell(world);
    try {
      await connect(pty, ["-F", config, HOST]);
      await pty.waitFor(prompt, 20_000);
      await pty.typeLine("wrong one");
      await pty.waitFor(/password: *\n.*password: *$/);
      await pty.typeLine("open sesame");
      await pty.waitFor(/^welcome after 2 tries/m, 20_000);
      await pty.waitFor(/^rc=0$/m);
      assert.doesNotMatch(await pty.screen(), /sesame|wrong one/);

      await pty.typeLine("clear");
      await connect(pty, ["-F", config, HOST]);
      for (let attempt = 0; attempt < 3; attempt++) {
        await pty.waitFor(prompt, 20_000);
        await pty.typeLine(`wrong ${attempt}`);
        if (attempt < 2) await pty.waitFor(/password: *\n.*password: *$/);
      }
      const screen = await pty.waitFor(/^rc=\d+$/m, 20_000);
      assert.match(screen, /^rc=255$/m);
      assert.match(screen, /^sessions: permission denied/m);
    } finally {
      await pty.dispose();
    }
  } finally {
    await server.close();
    await Deno.remove(world.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("sessions connect: Ctrl-C while connecting ends with 130 and the terminal as it was", async () => {
  const world = await makeWorld();
  // Accepts and never speaks, so the handshake is still waiting when Ctrl-C comes.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepted = listener.accept().then(
    (connection) => held.push(connection),
    () => 0, // closed before anyone connected: the test has failed already
  );
  try {
    const config = join(world.dir, "ssh_config-silent");
    await Deno.writeTextFile(
      config,
      [
        `Host ${HOST}`,
        "  HostName 127.0.0.1",
        `  Port ${(listener.addr as Deno.NetAddr).port}`,
        "  ConnectTimeout 60",
        `  UserKnownHostsFile ${join(world.dir, "known_hosts-silent")}`,
        "",
      ].join("\n"),
    );
    const pty = await outerShell(world);
    try {
      const before = await outerStty(pty, world, "stty-before");
      await connect(pty, ["-F", config, HOST]);
      await accepted;
      await pty.press("C-c");
      await pty.waitFor(/^rc=130$/m, 20_000);
      assert.equal(await outerStty(pty, world, "stty-after"), before);
    } finally {
      await pty.dispose();
    }
  } finally {
    for (const connection of held) connection.close();
    listener.close();
    await Deno.remove(world.dir, { recursive: true }).catch(() => {});
  }
});
