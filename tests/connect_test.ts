/**
 * connect without a network: quoting of remote session names (proved by
 * running the generated command lines through a real /bin/sh with stand-in
 * multiplexers), the multiplexer probe, and flag handling.
 */
import { Pty } from "./helpers/pty.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  parseProbeOutput,
  posixQuote,
  probeCommand,
  remoteSessionCommand,
  remoteSessionNameProblem,
  signalExitStatus,
} from "../remote/connect.ts";
import { keyTypeLabel } from "../cli/connect-run.ts";
import { runSessions, sessionsShellLine } from "./helpers/sessions.ts";

const HOSTILE_NAMES = [
  "work",
  "it's",
  "'",
  "''",
  "a b",
  "$(touch PWNED)",
  "`touch PWNED`",
  "x'; touch PWNED; echo '",
  '"; touch PWNED; echo "',
  "-d",
  "--help",
  "\\",
  "a\\'b",
  "*",
  "~",
  "$HOME",
  "!!",
  "a;b|c&d>e<f",
  "new\nline",
  "tab\there",
  "ünïcödé ✓",
];

async function sh(
  script: string,
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number; stdout: string }> {
  const output = await new Deno.Command("/bin/sh", {
    args: ["-c", script],
    env,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

Deno.test("posixQuote: /bin/sh reads every hostile word back unchanged", async () => {
  for (const name of HOSTILE_NAMES) {
    const { stdout } = await sh(`printf '%s' ${posixQuote(name)}`);
    assert.equal(stdout, name);
  }
});

Deno.test("remote session commands pass the name as one argument and run nothing else", async (t) => {
  // Stand-in multiplexers that print their arguments one per line; screen also lists one session.
  const dir = await Deno.makeTempDir({ prefix: "sessions-connect-unit-" });
  try {
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    const printArgs =
      `#!/bin/sh\nfor a in "$@"; do printf '[%s]\\n' "$a"; done\n`;
    for (const name of ["tmux", "zellij"]) {
      await Deno.writeTextFile(join(bin, name), printArgs, { mode: 0o755 });
    }
    await Deno.writeTextFile(
      join(bin, "screen"),
      `#!/bin/sh\nif [ "$1" = -ls ]; then printf 'There are screens on:\\r\\n\\t41.workshop\\t(Detached)\\r\\n\\t42.work\\t(11/24/26 01:00:25)\\t(Detached)\\r\\n'; exit 1; fi\n` +
        printArgs.replace("#!/bin/sh\n", ""),
      { mode: 0o755 },
    );
    const env = { PATH: `${bin}:/usr/bin:/bin` };

    await t.step("tmux: new-session -A -s NAME", async () => {
      for (const name of HOSTILE_NAMES) {
        const { stdout } = await sh(
          remoteSessionCommand("tmux", name),
          env,
          dir,
        );
        assert.equal(stdout, `[new-session]\n[-A]\n[-s]\n[${name}]\n`);
      }
    });
    await t.step("zellij: attach --create -- NAME", async () => {
      for (const name of HOSTILE_NAMES) {
        const { stdout } = await sh(
          remoteSessionCommand("zellij", name),
          env,
          dir,
        );
        assert.equal(stdout, `[attach]\n[--create]\n[--]\n[${name}]\n`);
      }
    });
    await t.step(
      "screen: creates NAME when no session has exactly that name",
      async () => {
        for (const name of HOSTILE_NAMES.filter((name) => name !== "work")) {
          const { stdout } = await sh(
            remoteSessionCommand("screen", name),
            env,
            dir,
          );
          assert.equal(stdout, `[-S]\n[${name}]\n`);
        }
      },
    );
    await t.step(
      "screen: reattaches the exact PID.NAME, not a prefix match",
      async () => {
        const { stdout } = await sh(
          remoteSessionCommand("screen", "work"),
          env,
          dir,
        );
        assert.equal(stdout, "[-D]\n[-r]\n[42.work]\n");
        const shop = await sh(
          remoteSessionCommand("screen", "workshop"),
          env,
          dir,
        );
        assert.equal(shop.stdout, "[-D]\n[-r]\n[41.workshop]\n");
      },
    );
    await t.step("no hostile name ran a command", async () => {
      await assert.rejects(Deno.stat(join(dir, "PWNED")));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the probe prints the first installed multiplexer, or nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-connect-probe-" });
  try {
    const env = { PATH: `${dir}:/usr/bin:/bin` };
    // zellij cannot be installed on these machines, so only the stand-in can be found.
    const none = await sh(probeCommand(["zellij"]), env);
    assert.equal(none.code, 1);
    assert.equal(parseProbeOutput(none.stdout), null);
    await Deno.writeTextFile(join(dir, "screen"), "#!/bin/sh\n", {
      mode: 0o755,
    });
    await Deno.writeTextFile(join(dir, "zellij"), "#!/bin/sh\n", {
      mode: 0o755,
    });
    const found = await sh(probeCommand(["zellij", "screen"]), env);
    assert.equal(parseProbeOutput(found.stdout), "zellij");
    assert.equal(parseProbeOutput(""), null);
    assert.equal(parseProbeOutput("bash\n"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("remote session names follow the local backends' rules", () => {
  assert.match(
    remoteSessionNameProblem("tmux", "a.b", "u") ?? "",
    /'\.' or ':'/,
  );
  assert.match(remoteSessionNameProblem("tmux", "", "u") ?? "", /empty/);
  assert.equal(remoteSessionNameProblem("tmux", "x'; rm -rf ~", "u"), null);
  // tmux expands -s as a format (#(cmd) runs cmd) and stores these escaped.
  for (const name of ["#(id)", "a#{host}", "$HOME", "a\\b"]) {
    assert.notEqual(remoteSessionNameProblem("tmux", name, "u"), null, name);
  }
  assert.equal(remoteSessionNameProblem("screen", "a.b", "u"), null);
  // A fish login shell reads \' inside single quotes as an escaped quote.
  for (const backend of ["tmux", "screen", "zellij"] as const) {
    assert.match(
      remoteSessionNameProblem(backend, "x\\';echo INJECTED;#", "u") ?? "",
      /'\\'/,
      backend,
    );
  }
  assert.match(remoteSessionNameProblem("screen", "a/b", "u") ?? "", /'\/'/);
  assert.match(
    remoteSessionNameProblem("zellij", "..", "u") ?? "",
    /not a valid/,
  );
});

Deno.test("a remote program killed by a signal gives 128 + its number", () => {
  assert.equal(signalExitStatus("TERM"), 143);
  assert.equal(signalExitStatus("KILL"), 137);
  assert.equal(signalExitStatus("SIGHUP"), 129); // ssh2's spelling
});

Deno.test("connect flag handling", async (t) => {
  await t.step(
    "standard input that is not a terminal is refused with 5",
    async () => {
      const result = await runSessions(["connect", "127.0.0.1", "-F", "none"]);
      assert.equal(result.code, 5);
      assert.equal(
        result.stderr,
        "sessions: connect needs a terminal, and standard input is not one (to run a command without one: 'sessions exec --targets 127.0.0.1 CMD')\n",
      );
      // A label a shell would read as a pattern is not offered as a word to type.
      const v6 = await runSessions(["connect", "[::1]:22", "-F", "none"]);
      assert.equal(v6.code, 5);
      assert.match(v6.stderr, /'sessions exec --targets HOST CMD'\)\n$/);
    },
  );
  await t.step("--session with --command is a usage error", async () => {
    const result = await runSessions([
      "connect",
      "h",
      "--session",
      "x",
      "--command",
      "ls",
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--session and --command/);
  });
  await t.step("an empty --command is a usage error", async () => {
    const result = await runSessions(["connect", "h", "--command", " "]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      "sessions: --command is empty (give a command, or leave out --command for a shell)\n",
    );
  });
  await t.step("--backend without --session is a usage error", async () => {
    const result = await runSessions(["connect", "h", "--backend", "screen"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /add --session NAME/);
  });
  await t.step(
    "SESSIONS_BACKEND does not pick the remote multiplexer",
    async () => {
      // Would be a usage error (--backend without --session) if the variable counted.
      const result = await runSessions(["connect", "h"], {
        env: { SESSIONS_BACKEND: "screen" },
      });
      assert.equal(result.code, 5);
    },
  );
  await t.step("a bad --port is a usage error", async () => {
    const result = await runSessions(["connect", "h", "--port", "70000"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid --port '70000'/);
  });
});

Deno.test("host key types are named as OpenSSH names them in its question", () => {
  assert.equal(keyTypeLabel("ssh-ed25519"), "ED25519");
  assert.equal(keyTypeLabel("ecdsa-sha2-nistp256"), "ECDSA");
  assert.equal(keyTypeLabel("ssh-rsa"), "RSA");
});

Deno.test("connect --session with --backend refuses a bad name before connecting", async () => {
  // Port 1 on loopback is closed: had it connected first, this would be 255.
  const pty = await Pty.start({
    command: sessionsShellLine([
      "connect",
      "127.0.0.1:1",
      "-F",
      "none",
      "--session",
      "a.b",
      "--backend",
      "tmux",
    ]) + '; echo "status=$?"',
    env: { NO_COLOR: "1" },
  });
  try {
    await pty.waitFor(/status=\d+/, 30_000);
    // With history: the pane is resized after the program starts, and the
    // first lines can move above the visible screen.
    const screen = await pty.tmux.ok(
      ["capture-pane", "-p", "-J", "-S", "-", "-t", "=pty:"],
    );
    assert.match(screen, /sessions: bad session name 'a\.b' for tmux/);
    assert.match(screen, /status=2\b/);
  } finally {
    await pty.dispose();
  }
});

Deno.test("a bad host: one line with a hint, exit 2, before the terminal check", async (t) => {
  // Without a terminal: a refusal of the terminal (exit 5) would mean the host went unchecked.
  const config = await Deno.makeTempDir({ prefix: "sessions-connect-cfg-" });
  try {
    for (
      const [host, expected] of [
        ["", "the host is empty (try 'sessions connect [USER@]HOST[:PORT]')"],
        [" ", "the host is empty (try 'sessions connect [USER@]HOST[:PORT]')"],
        [
          "a b",
          "bad host 'a b': it contains a space (try 'sessions connect [USER@]HOST[:PORT]')",
        ],
        [",", "',' names no host (try 'sessions connect [USER@]HOST[:PORT]')"],
        [
          "a,b",
          "connect takes one host, and 'a,b' names 2 hosts (for many hosts use 'sessions exec --targets LIST CMD')",
        ],
        [
          "@",
          "missing group name after '@' (write @NAME for a group of the sessions config file)",
        ],
        [
          "user@",
          "missing host name in target 'user@' (write [user@]host[:port], e.g. deploy@web01:2222)",
        ],
        [
          ":22",
          "missing host name in target ':22' (write [user@]host[:port], e.g. deploy@web01:2222)",
        ],
        [
          "@web",
          "unknown group '@web' (define it with a 'group' line in the sessions config file)",
        ],
        [
          "h:",
          "missing port after ':' in target 'h:' (a port is a number from 1 to 65535)",
        ],
      ] as const
    ) {
      await t.step(`'${host}'`, async () => {
        const result = await runSessions(["connect", host, "-F", "none"], {
          env: { XDG_CONFIG_HOME: config },
        });
        assert.equal(result.code, 2, result.stderr);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr, `sessions: ${expected}\n`);
      });
    }
  } finally {
    await Deno.remove(config, { recursive: true });
  }
});
