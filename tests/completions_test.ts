import assert from "node:assert/strict";
import { join } from "node:path";
import { runSessions, sessionsShellLine } from "./helpers/sessions.ts";
import { runCommand } from "./helpers/command.ts";
import { PrivateTmux } from "./helpers/tmux.ts";
import { PrivateScreen } from "./helpers/screen.ts";
import { Pty } from "./helpers/pty.ts";
import { Command, Option } from "@commander-js/extra-typings";
import { programSpec } from "../cli/completion/spec.ts";
import { completionScript } from "../cli/completion/scripts.ts";

const SSH_CONFIG = `Host web1 web2
  User deploy
Host *.internal !bastion
  User ops
Host db
  HostName db.example.test
`;
const KNOWN_HOSTS = [
  "cache1,10.1.2.3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
  "[git.example.test]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
  "|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
  "*.wild ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
  "",
].join("\n");

/**
 * A home with ~/.ssh/config and known_hosts, a `sessions` on PATH that runs
 * this checkout with the shared permissions, and private tmux and screen
 * servers holding a few sessions.
 */
interface Fixture {
  dir: string;
  env: Record<string, string>;
  tmux: PrivateTmux;
  screen: PrivateScreen;
  scripts: Record<"bash" | "zsh" | "fish", string>;
}

async function withFixture(body: (fixture: Fixture) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "sessions-completions-" });
  const tmux = await PrivateTmux.create();
  const screen = await PrivateScreen.create();
  try {
    const home = join(dir, "home");
    await Deno.mkdir(join(home, ".ssh"), { recursive: true });
    await Deno.writeTextFile(join(home, ".ssh", "config"), SSH_CONFIG);
    await Deno.writeTextFile(join(home, ".ssh", "known_hosts"), KNOWN_HOSTS);
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      join(bin, "sessions"),
      `#!/bin/sh\nexec ${sessionsShellLine()} "$@"\n`,
    );
    await Deno.chmod(join(bin, "sessions"), 0o755);
    await tmux.ok(["new-session", "-d", "-s", "alpha"]);
    await tmux.ok(["new-session", "-d", "-s", "alpine"]);
    await screen.screen(["-dmS", "gamma"]);
    assert.deepEqual(await screen.names(), ["gamma"]);
    const env = {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      HOME: home,
      NO_COLOR: "1",
      ...tmux.env(),
      ...screen.env(),
    };
    const scripts = { bash: "", zsh: "", fish: "" };
    for (const shell of ["bash", "zsh", "fish"] as const) {
      const result = await runSessions(["completions", shell], { env });
      assert.equal(result.code, 0, result.stderr);
      scripts[shell] = join(dir, `sessions.${shell}`);
      await Deno.writeTextFile(scripts[shell], result.stdout);
    }
    await body({ dir, env, tmux, screen, scripts });
  } finally {
    await tmux.dispose();
    assert.deepEqual(await screen.dispose(), [], "screen sessions ended");
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Completes WORDS (as bash splits them; the last is the word under the
 * cursor) with the function `complete -p sessions` names, in `bash --norc`,
 * and returns COMPREPLY sorted.
 */
async function bashComplete(
  fixture: Fixture,
  words: string[],
): Promise<string[]> {
  const harness = `
source "$1"; shift
spec=$(complete -p sessions) || exit 3
[[ $spec =~ -F\\ ([^ ]+) ]] || exit 4
fn=\${BASH_REMATCH[1]}
COMP_WORDS=("$@")
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"
COMP_POINT=\${#COMP_LINE}
COMPREPLY=()
"$fn" sessions "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const result = await runCommand(
    "bash",
    [
      "--norc",
      "--noprofile",
      "-c",
      harness,
      "bash",
      fixture.scripts.bash,
      ...words,
    ],
    { env: fixture.env },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  return result.stdout.split("\n").filter((line) => line !== "").sort();
}

Deno.test("completion scripts", async (t) => {
  await withFixture(async (fixture) => {
    await t.step("bash registers a function for sessions", async () => {
      const result = await runCommand("bash", [
        "--norc",
        "-c",
        `source "$1" && complete -p sessions`,
        "bash",
        fixture.scripts.bash,
      ]);
      assert.equal(result.stdout, "complete -F _sessions sessions\n");
    });

    await t.step("bash: commands", async () => {
      assert.deepEqual(await bashComplete(fixture, ["sessions", ""]), [
        "attach",
        "completions",
        "connect",
        "create",
        "detach",
        "exec",
        "kill",
        "list",
        "upgrade",
      ]);
      assert.deepEqual(await bashComplete(fixture, ["sessions", "co"]), [
        "completions",
        "connect",
      ]);
      assert.deepEqual(
        await bashComplete(fixture, ["sessions", "--backend", "tmux", "l"]),
        ["list"],
      );
    });

    await t.step(
      "bash: flags of the command being typed, and global ones",
      async () => {
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "list", "--"]),
          [
            "--all",
            "--backend",
            "--help",
            "--json",
          ],
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "exec", "--tar"]),
          ["--targets", "--targets-file"],
        );
        assert.deepEqual(await bashComplete(fixture, ["sessions", "-"]), [
          "--backend",
          "--help",
          "--version",
          "-V",
          "-h",
        ]);
      },
    );

    await t.step(
      "bash: choices of --backend, --output and the shell argument",
      async () => {
        const backends = ["screen", "tmux", "zellij"];
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "--backend", ""]),
          backends,
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "list", "--backend", ""]),
          backends,
        );
        assert.deepEqual(
          await bashComplete(fixture, [
            "sessions",
            "kill",
            "--backend",
            "=",
            "t",
          ]),
          ["tmux"],
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "exec", "--output", "b"]),
          ["blocks"],
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "completions", ""]),
          ["bash", "fish", "zsh"],
        );
      },
    );

    await t.step(
      "bash: live session names of tmux and screen for attach, kill and detach",
      async () => {
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "attach", ""]),
          ["alpha", "alpine", "gamma"],
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "kill", "alp"]),
          ["alpha", "alpine"],
        );
        assert.deepEqual(
          await bashComplete(fixture, [
            "sessions",
            "--backend",
            "screen",
            "detach",
            "g",
          ]),
          ["gamma"],
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "attach", "alpha", ""]),
          [],
          "one name only",
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "create", ""]),
          [],
          "create takes a new name",
        );
      },
    );

    await t.step(
      "bash: a session name is never run as a command, and is inserted quoted",
      async () => {
        const witness = join(fixture.dir, "ran");
        const hostile = [`$(touch ${witness})`, `\`touch ${witness}\``];
        const names = [...hostile, "two words", "two ways", "it's"];
        // Ended by ID: a target of `=$(…` is not found by name.
        const ids: string[] = [];
        for (const name of names) {
          ids.push(
            (await fixture.tmux.ok([
              "new-session",
              "-d",
              "-P",
              "-F",
              "#{session_id}",
              "-s",
              name,
            ])).trim(),
          );
        }
        try {
          const offered = await bashComplete(fixture, ["sessions", "kill", ""]);
          await assert.rejects(Deno.stat(witness), Deno.errors.NotFound);
          assert.ok(offered.includes("two\\ words"), offered.join("|"));
          assert.ok(offered.includes("it\\'s"), offered.join("|"));
          // What a completion inserted (quoted) still completes further.
          assert.deepEqual(
            await bashComplete(fixture, ["sessions", "kill", "two\\ w"]),
            ["two\\ ways", "two\\ words"],
          );
          // Each name comes back as the shell word that types it.
          const typed = await runCommand(
            "bash",
            ["--norc", "-c", 'printf "%s\\n" ' + offered.join(" ")],
          );
          assert.deepEqual(
            typed.stdout.trimEnd().split("\n").sort(),
            ["alpha", "alpine", "gamma", ...names].sort(),
          );
          await assert.rejects(Deno.stat(witness), Deno.errors.NotFound);
        } finally {
          for (const id of ids) {
            await fixture.tmux.ok(["kill-session", "-t", id]);
          }
        }
      },
    );

    await t.step(
      "bash: hosts from ~/.ssh/config and known_hosts for connect and --targets",
      async () => {
        const hosts = [
          "10.1.2.3",
          "cache1",
          "db",
          "git.example.test",
          "web1",
          "web2",
        ];
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "connect", ""]),
          hosts,
        );
        assert.deepEqual(
          await bashComplete(fixture, [
            "sessions",
            "connect",
            "deploy",
            "@",
            "we",
          ]),
          ["web1", "web2"],
        );
        assert.deepEqual(
          await bashComplete(fixture, ["sessions", "exec", "--targets", "c"]),
          ["cache1"],
        );
        assert.deepEqual(
          await bashComplete(fixture, [
            "sessions",
            "exec",
            "--targets",
            "web1,d",
          ]),
          ["web1,db"],
        );
        assert.deepEqual(
          await bashComplete(fixture, [
            "sessions",
            "exec",
            "--exclude",
            "=",
            "w",
          ]),
          ["web1", "web2"],
        );
      },
    );

    await t.step("the hidden --names option is not in help", async () => {
      const help = await runSessions(["completions", "--help"], {
        env: fixture.env,
      });
      assert.equal(help.code, 0);
      assert.doesNotMatch(help.stdout, /--names/);
      assert.match(help.stdout, /bash, zsh or fish/);
    });

    await t.step("completions without a shell is a usage error", async () => {
      const result = await runSessions(["completions"], { env: fixture.env });
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        "sessions: name the shell to complete for (sessions completions bash|zsh|fish)\n",
      );
      const bad = await runSessions(["completions", "tcsh"], {
        env: fixture.env,
      });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^sessions: .*'tcsh'.*bash, zsh, fish/);
    });

    await t.step(
      "fish: loads and offers commands, flags, backends, sessions and hosts",
      async () => {
        const complete = async (line: string) => {
          const result = await runCommand("fish", [
            "--no-config",
            "-c",
            `source $argv[1]; and complete -C ${JSON.stringify(line)}`,
            fixture.scripts.fish,
          ], { env: fixture.env });
          assert.equal(result.stderr, "");
          assert.equal(result.code, 0);
          return result.stdout.split("\n").filter((l) => l !== "").map((l) =>
            l.split("\t")[0]
          ).sort();
        };
        const commands = await complete("sessions ");
        for (
          const command of [
            "list",
            "create",
            "attach",
            "exec",
            "connect",
            "upgrade",
            "completions",
          ]
        ) {
          assert.ok(commands.includes(command), `${command} in ${commands}`);
        }
        assert.deepEqual(await complete("sessions list --"), [
          "--all",
          "--backend",
          "--help",
          "--json",
          "--version",
        ]);
        assert.deepEqual(await complete("sessions --backend "), [
          "screen",
          "tmux",
          "zellij",
        ]);
        assert.deepEqual(await complete("sessions attach "), [
          "alpha",
          "alpine",
          "gamma",
        ]);
        assert.deepEqual(await complete("sessions connect we"), [
          "web1",
          "web2",
        ]);
      },
    );

    await t.step(
      "zsh: loads under compinit and completes in a real terminal",
      async () => {
        const zdotdir = join(fixture.dir, "zdotdir");
        await Deno.mkdir(zdotdir);
        await Deno.writeTextFile(
          join(zdotdir, ".zshrc"),
          // tmux gives a new pane its own PATH, whatever the environment says.
          `PS1='%% '\nPATH=${fixture.env.PATH}\nautoload -Uz compinit && compinit -u -d ${zdotdir}/.zcompdump\nsource ${fixture.scripts.zsh}\nprint "loaded: $_comps[sessions]"\n`,
        );
        const pty = await Pty.start({
          command: "zsh -i",
          env: { ...fixture.env, ZDOTDIR: zdotdir, TERM: "xterm" },
        });
        try {
          await pty.waitFor(/loaded: _sessions\n%/, 60_000);
          await pty.type("sessions lis");
          await pty.press("Tab");
          await pty.waitFor(/% sessions list$/, 30_000);
          await pty.press("C-u");
          await pty.type("sessions attach alph");
          await pty.press("Tab");
          await pty.waitFor(/% sessions attach alpha$/, 30_000);
          await pty.press("C-u");
          await pty.type("sessions --backend zel");
          await pty.press("Tab");
          await pty.waitFor(/% sessions --backend zellij$/, 30_000);
          await pty.press("C-u");
          await pty.type("sessions connect d");
          await pty.press("Tab");
          await pty.waitFor(/% sessions connect db$/, 30_000);
          await pty.press("C-u");
          await pty.type("sessions exec --targets web1,ca");
          await pty.press("Tab");
          await pty.waitFor(/% sessions exec --targets web1,cache1$/, 30_000);
        } finally {
          await pty.dispose();
        }
      },
    );
  });
});

Deno.test("a command or flag added to the tree appears in every script", async () => {
  const program = new Command("demo")
    .enablePositionalOptions()
    .option("--color <when>", "colour")
    .addCommand(
      new Command("frobnicate")
        .description("frobnicate it")
        .addOption(
          new Option("--level <n>", "how much").choices(["low", "high"]),
        )
        .option("--config <file>", "read FILE")
        .addOption(new Option("--secret").hideHelp()),
    );
  const spec = programSpec(program);
  assert.deepEqual(spec.commands.map((command) => command.name), [
    "frobnicate",
  ]);
  const frobnicate = spec.commands[0];
  assert.deepEqual(
    frobnicate.options.map((
      option,
    ) => [option.long, option.value?.type ?? null]),
    [["--level", "choices"], ["--config", "file"], ["--help", null]],
    "own options, then help; hidden ones and the program's left out (options are positional)",
  );
  const bash = completionScript("bash", spec);
  assert.match(
    bash,
    /"frobnicate --level"\) COMPREPLY=\(\$\(compgen -W 'low high'/,
  );
  assert.match(bash, /frobnicate\) words='--level --config --help -h'/);
  assert.match(bash, /^complete -F _demo demo$/m);
  assert.doesNotMatch(bash, /secret/);
  const zsh = completionScript("zsh", spec);
  assert.match(zsh, /'frobnicate:frobnicate it'/);
  assert.match(zsh, /'--config=\[read FILE\]:value:_files'/);
  const fish = completionScript("fish", spec);
  assert.match(
    fish,
    /complete -c demo -n '__fish_seen_subcommand_from frobnicate' -l level -x -a 'low high' -d 'how much'/,
  );
  for (
    const [shell, script] of [["bash", bash], ["zsh", zsh], ["fish", fish]]
  ) {
    const result = await runCommand(shell, ["-n", "-c", script]);
    assert.equal(result.code, 0, `${shell} -n: ${result.stderr}`);
  }
});
