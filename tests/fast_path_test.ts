/**
 * The `list` fast path must parse exactly as commander does, decline
 * everything else, and load neither commander nor SSH code.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { buildProgram } from "../cli/app.ts";
import { listOptions } from "../cli/commands/list.ts";
import { parseFastList } from "../cli/fast-path.ts";
import type { ListOptions } from "../cli/local.ts";
import { runSessions } from "./helpers/sessions.ts";
import { PrivateTmux } from "./helpers/tmux.ts";
import { PrivateScreen } from "./helpers/screen.ts";

type Parsed = { options: ListOptions } | { error: string };

/** What commander makes of ARGV for `list` (the action replaced by a probe). */
async function commanderParse(argv: string[]): Promise<Parsed> {
  const program = buildProgram();
  const silent = {
    writeOut: () => {},
    writeErr: () => {},
    outputError: () => {},
  };
  program.configureOutput(silent);
  let options: ListOptions | null = null;
  for (const command of program.commands) {
    command.configureOutput(silent);
    command.action((...args: unknown[]) => {
      if (command.name() !== "list") throw new Error("another command ran");
      options = listOptions(args[args.length - 1] as never);
    });
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    return { error: String(error) };
  }
  return options ? { options } : { error: "no command ran" };
}

/** Every ordering of up to MAX distinct items, each item one or more words. */
function arrangements(items: string[][], max: number): string[][] {
  const out: string[][] = [[]];
  const grow = (prefix: string[], used: Set<number>) => {
    if (used.size === max) return;
    items.forEach((item, index) => {
      if (used.has(index)) return;
      const next = [...prefix, ...item];
      out.push(next);
      grow(next, new Set([...used, index]));
    });
  };
  grow([], new Set());
  return out;
}

async function compare(argv: string[], backendEnv: string | undefined) {
  const fast = parseFastList(argv, backendEnv);
  const commander = await commanderParse(argv);
  const label = `${JSON.stringify(argv)} SESSIONS_BACKEND=${backendEnv}`;
  if (fast !== null) {
    assert.ok("options" in commander, `${label}: commander refused it`);
    assert.deepEqual(fast, commander.options, label);
  } else if ("options" in commander) {
    // The only accepted form the fast path leaves to commander: a `--` separator.
    assert.ok(argv.includes("--"), `${label}: the fast path declined it`);
  }
  return fast !== null;
}

async function withBackendEnv(
  value: string | undefined,
  body: () => Promise<void>,
) {
  const saved = Deno.env.get("SESSIONS_BACKEND");
  if (value === undefined) Deno.env.delete("SESSIONS_BACKEND");
  else Deno.env.set("SESSIONS_BACKEND", value);
  try {
    await body();
  } finally {
    if (saved === undefined) Deno.env.delete("SESSIONS_BACKEND");
    else Deno.env.set("SESSIONS_BACKEND", saved);
  }
}

Deno.test("the fast path parses list exactly as commander does, and nothing else", async (t) => {
  await t.step(
    "every arrangement of list's words and some strangers",
    async () => {
      await withBackendEnv(undefined, async () => {
        const items = [
          ["list"],
          ["--all"],
          ["--json"],
          ["--backend", "tmux"],
          ["--backend=screen"],
          ["--backend", "byobu"],
          ["--backend"],
          ["--help"],
          ["extra"],
          ["--"],
        ];
        let accepted = 0;
        for (const argv of arrangements(items, 4)) {
          if (await compare(argv, undefined)) accepted++;
        }
        // compare() already demands both directions; this guards the generator itself.
        assert.ok(accepted >= 50, `only ${accepted} accepted`);
      });
    },
  );

  await t.step("repeated options, --backend=, and odd values", async () => {
    await withBackendEnv(undefined, async () => {
      for (
        const argv of [
          ["list", "--all", "--all", "--json", "--json"],
          ["--backend", "tmux", "list", "--backend", "zellij"],
          ["--backend=zellij", "list", "--backend=screen", "--all"],
          ["list", "--backend="],
          ["list", "--backend", "--all"],
          ["list", "--backend", "list"],
          ["list", "list"],
          ["list", "-h"],
          ["list", "--al"],
          ["lst"],
          ["--version"],
          ["create", "list"],
          ["list", "--all=1"],
          ["--json", "list"],
        ]
      ) {
        await compare(argv, undefined);
      }
    });
  });

  for (const value of ["screen", "zellij", "", "byobu"]) {
    await t.step(`SESSIONS_BACKEND=${JSON.stringify(value)}`, async () => {
      await withBackendEnv(value, async () => {
        const items = [
          ["list"],
          ["--all"],
          ["--backend", "tmux"],
          ["--backend=byobu"],
        ];
        for (const argv of arrangements(items, 3)) {
          await compare(argv, value);
        }
      });
    });
  }
});

/** The modules ENTRY loads at start-up (dynamic imports not followed), as `deno info` reports them. */
async function staticGraph(entry: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: {
        code?: { specifier: string };
        isDynamic?: boolean;
      }[];
    }[];
  };
  const bySpecifier = new Map(
    info.modules.map((module) => [module.specifier, module]),
  );
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code && !dependency.isDynamic) {
        visit(dependency.code.specifier);
      }
    }
  };
  visit(info.roots[0]);
  return [...seen];
}

Deno.test("main.ts loads only local, non-SSH modules before the fast path decides", async () => {
  const modules = await staticGraph("main.ts");
  const remoteErrors = await staticGraph("remote/errors.ts");
  assert.equal(remoteErrors.length, 1, "remote/errors.ts gained imports");
  assert.ok(
    modules.some((specifier) => specifier.endsWith("/cli/fast-path.ts")),
  );
  assert.ok(
    modules.some((specifier) => specifier.endsWith("/backends/tmux.ts")),
  );
  for (const specifier of modules) {
    // No npm: and no node: modules either (node:path alone costs ~30 ms of CPU).
    assert.ok(specifier.startsWith("file:"), `loads ${specifier} at start-up`);
    // remote/errors.ts is one dependency-free error class (cli/errors.ts maps it); no SSH code.
    if (specifier.includes("/remote/")) {
      assert.ok(specifier.endsWith("/remote/errors.ts"), `loads ${specifier}`);
    }
    assert.ok(!specifier.endsWith("/cli/app.ts"), `loads ${specifier}`);
  }
});

Deno.test("the fast path and commander print the same list", async () => {
  const tmux = await PrivateTmux.create();
  const screen = await PrivateScreen.create();
  try {
    const env = { ...tmux.env(), ...screen.env(), ZELLIJ: "" };
    await tmux.ok(["new-session", "-d", "-s", "one"]);
    // `--` makes commander handle it; the fast path takes the same call without it.
    const viaCommander = await runSessions(["list", "--json", "--"], { env });
    const viaFastPath = await runSessions(["list", "--json"], { env });
    assert.equal(viaCommander.code, 0, viaCommander.stderr);
    assert.equal(viaFastPath.code, 0, viaFastPath.stderr);
    assert.equal(viaFastPath.stdout, viaCommander.stdout);
    assert.equal(JSON.parse(viaFastPath.stdout)[0].name, "one");
    const bad = await runSessions(["list", "--backend", "byobu"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'byobu'.*tmux, screen, zellij/);
  } finally {
    await tmux.dispose();
    assert.deepEqual(await screen.dispose(), []);
  }
});
