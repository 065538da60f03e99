/**
 * The local benchmark: `sessions list` with 20 tmux and 20 screen sessions
 * (private servers) against a bare `deno run` of an empty script, in one
 * hyperfine run. The target: at most 1.3x.
 *
 * Standalone: `deno run -A scripts/bench/local.ts [--write BENCHMARKS.md]`.
 */
import { join } from "node:path";
import { PrivateScreen } from "../../tests/helpers/screen.ts";
import { sessionsArgv } from "../../tests/helpers/sessions.ts";
import { PrivateTmux } from "../../tests/helpers/tmux.ts";
import { RUNTIME_FLAGS } from "../runtime-flags.ts";
import { TMUX_LIST_FORMAT } from "../../backends/tmux.ts";
import { aptInstall, median, onPath, writeSection } from "./sections.ts";

export const SESSIONS_PER_BACKEND = 20;
export const TARGET_RATIO = 1.3;
const ROUNDS = 6;
const RUNS_PER_ROUND = 10;
const WARMUP = 2;

export interface LocalResult {
  emptyScript: Timing;
  list: Timing;
  /** `list --`: the same listing through commander, to show what the fast path saves. */
  listViaCommander: Timing;
  /**
   * A script that only runs the two listings `list` runs (tmux and screen,
   * concurrently) and prints their output: what any `list` built on the
   * tmux and screen clients costs at least.
   */
  clientsOnly: Timing;
  /**
   * Fastest `list` / fastest empty script: the runs least disturbed by other
   * work on the machine, so the closest to the start-up cost itself.
   */
  ratio: number;
  listedRows: number;
  denoVersion: string;
  /** `/proc/loadavg`'s three figures: a busy machine makes every figure above larger. */
  loadAverage: string;
}

interface Timing {
  medianMs: number;
  meanMs: number;
  minMs: number;
  /** Mean user+system CPU time of the process and its children (tmux, screen). */
  cpuMs: number;
}

function timing(samples: number[], cpuMs: number[]): Timing {
  return {
    cpuMs: cpuMs.reduce((sum, value) => sum + value, 0) / cpuMs.length,
    medianMs: median(samples),
    meanMs: samples.reduce((sum, value) => sum + value, 0) / samples.length,
    minMs: Math.min(...samples),
  };
}

export async function runLocalBenchmark(
  log: (line: string) => void = (line) => console.error(line),
): Promise<LocalResult> {
  if (!await onPath("hyperfine")) await aptInstall(["hyperfine"]);
  const tmux = await PrivateTmux.create("sessions-bench-");
  const screen = await PrivateScreen.create("scr-bench-");
  const dir = await Deno.makeTempDir({ prefix: "sessions-bench-local-" });
  try {
    for (let i = 1; i <= SESSIONS_PER_BACKEND; i++) {
      const name = `bench-${String(i).padStart(2, "0")}`;
      await tmux.ok([
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        name,
        "/bin/sh",
      ]);
      await screen.screen(["-dmS", name, "/bin/sh"]);
    }
    const env = { ...tmux.env(), ...screen.env(), ZELLIJ: "", NO_COLOR: "1" };
    const listed = await new Deno.Command(sessionsArgv()[0], {
      args: [...sessionsArgv().slice(1), "list", "--json"],
      env,
      stdout: "piped",
    }).output();
    const listedRows = JSON.parse(new TextDecoder().decode(listed.stdout))
      .length;
    if (listedRows !== 2 * SESSIONS_PER_BACKEND) {
      throw new Error(
        `sessions list shows ${listedRows} sessions, expected ${
          2 * SESSIONS_PER_BACKEND
        }`,
      );
    }
    const empty = join(dir, "empty.ts");
    await Deno.writeTextFile(empty, "");
    const clientsOnly = join(dir, "clients-only.ts");
    await Deno.writeTextFile(clientsOnly, clientsOnlyScript());
    const commands = [
      [Deno.execPath(), "run", "--quiet", empty].join(" "),
      [...sessionsArgv(), "list"].join(" "),
      [...sessionsArgv(), "list", "--"].join(" "),
      [Deno.execPath(), "run", "--quiet", ...RUNTIME_FLAGS, clientsOnly]
        .join(" "),
    ];
    // The machine may be shared: rounds of hyperfine interleave the commands,
    // so a busy spell slows all of them alike; medians resist the outliers.
    const samples: number[][] = commands.map(() => []);
    const cpu: number[][] = commands.map(() => []);
    for (let round = 1; round <= ROUNDS; round++) {
      log(`hyperfine round ${round}/${ROUNDS}`);
      const exported = join(dir, `round-${round}.json`);
      const run = await new Deno.Command("hyperfine", {
        args: [
          "--shell=none",
          "--style=basic",
          "--warmup",
          String(WARMUP),
          "--runs",
          String(RUNS_PER_ROUND),
          "--export-json",
          exported,
          ...commands,
        ],
        env,
        stdout: "null",
        stderr: "inherit",
      }).output();
      if (!run.success) throw new Error("hyperfine failed");
      const results = JSON.parse(await Deno.readTextFile(exported))
        .results as { times: number[]; user: number; system: number }[];
      results.forEach((result, index) => {
        samples[index].push(...result.times.map((seconds) => seconds * 1000));
        cpu[index].push((result.user + result.system) * 1000);
      });
    }
    const [emptyScript, list, listViaCommander, clientsOnlyTiming] = samples
      .map((times, index) => timing(times, cpu[index]));
    return {
      emptyScript,
      list,
      listViaCommander,
      clientsOnly: clientsOnlyTiming,
      ratio: list.minMs / emptyScript.minMs,
      listedRows,
      denoVersion: Deno.version.deno,
      loadAverage: (await Deno.readTextFile("/proc/loadavg")).split(" ")
        .slice(0, 3).join(" "),
    };
  } finally {
    await tmux.dispose();
    await screen.dispose();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The clients-only script: the two listings `list` runs, and nothing else. */
function clientsOnlyScript(): string {
  return `const run = (command: string, args: string[], env = {}) =>
  new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
const outputs = await Promise.all([
  run("tmux", ["list-sessions", "-F", ${JSON.stringify(TMUX_LIST_FORMAT)}]),
  run("screen", ["-ls"], { LC_ALL: "C" }),
]);
for (const output of outputs) await Deno.stdout.write(output.stdout);
`;
}

export function formatLocalSection(result: LocalResult, date: Date): string {
  const row = (label: string, timing: Timing) =>
    `| ${label} | ${timing.medianMs.toFixed(1)} ms | ${
      timing.meanMs.toFixed(1)
    } ms | ${timing.minMs.toFixed(1)} ms | ${timing.cpuMs.toFixed(1)} ms |`;
  const verdict = result.ratio <= TARGET_RATIO
    ? `meets the target of at most ${TARGET_RATIO}x`
    : `misses the target of at most ${TARGET_RATIO}x`;
  return [
    "## Local: `sessions list` start-up",
    "",
    `Measured ${
      date.toISOString().slice(0, 16).replace("T", " ")
    } UTC, Deno ${result.denoVersion}, ${navigator.hardwareConcurrency} cores, with ${SESSIONS_PER_BACKEND} tmux and ${SESSIONS_PER_BACKEND} screen sessions on private servers (${result.listedRows} rows listed), hyperfine without a shell in ${ROUNDS} rounds of ${RUNS_PER_ROUND} runs per command (after ${WARMUP} warm-up runs), so the commands take turns. \`sessions\` runs from source with the shared runtime flags (scripts/runtime-flags.ts).`,
    "",
    "| command | median | mean | min | CPU (user+sys) |",
    "| --- | --- | --- | --- | --- |",
    row("`deno run` of an empty script", result.emptyScript),
    row("`sessions list`", result.list),
    row(
      "`sessions list --` (through commander, for comparison)",
      result.listViaCommander,
    ),
    row(
      "a script that only runs `tmux list-sessions` and `screen -ls` (the floor)",
      result.clientsOnly,
    ),
    "",
    `Ratio \`sessions list\` / empty script, fastest runs: **${
      result.ratio.toFixed(2)
    }x**, which ${verdict}. The other estimates: medians ${
      (result.list.medianMs / result.emptyScript.medianMs).toFixed(2)
    }x, CPU time ${
      (result.list.cpuMs / result.emptyScript.cpuMs).toFixed(2)
    }x (CPU includes the tmux and screen clients \`list\` runs). The machine is shared: the medians and means move with other load (load average when done: ${result.loadAverage}); the fastest runs and CPU time move least.`,
    "",
    `The floor: a \`deno run\` script that only runs the same two listings (same flags, concurrently, output printed) takes ${
      (result.clientsOnly.minMs / result.emptyScript.minMs).toFixed(2)
    }x the empty script by the fastest runs, and \`sessions list\` takes ${
      (result.list.minMs / result.clientsOnly.minMs).toFixed(2)
    }x that script.`,
    "",
    "Reproduce: `deno task bench local` (or `deno run -A scripts/bench/local.ts --write BENCHMARKS.md`); it installs hyperfine with apt-get when missing.",
  ].join("\n");
}

if (import.meta.main) {
  const section = formatLocalSection(await runLocalBenchmark(), new Date());
  console.log(section);
  const at = Deno.args.indexOf("--write");
  if (at >= 0) await writeSection(Deno.args[at + 1], "local", section);
}
