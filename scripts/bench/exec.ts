/**
 * The exec benchmark: `uname -n` on 10/50/100/200 loopback hosts (real sshd,
 * tests/helpers/sshd.ts) with `sessions exec --parallel N`, pdsh,
 * parallel-ssh and clush at the same fan-out. Each run is measured under
 * GNU time (wall, user+sys CPU of the whole process tree, since every tool
 * waits for its ssh children) while /proc is sampled for the peak resident
 * memory of the whole tree. Prints, and returns, a Markdown section.
 *
 * Standalone: `deno run -A scripts/bench/exec.ts [--write BENCHMARKS.md]`.
 */
import { join } from "node:path";
import {
  createClientKeys,
  descendantsOf,
  startSshd,
  writeClusterSshFiles,
} from "../../tests/helpers/sshd.ts";
import { sessionsArgv } from "../../tests/helpers/sessions.ts";
import { aptInstall, median, onPath, writeSection } from "./sections.ts";

export const HOST_COUNTS = [10, 50, 100, 200] as const;
export const FAN_OUT = 64;
/**
 * Each tool runs this many times at each host count, in rounds that go
 * through every count and tool, so a busy spell of the shared machine slows
 * them alike; the table shows medians. One run of the same build can be 10%
 * off the next.
 */
export const ROUNDS = 3;
const REMOTE_COMMAND = "uname -n";
const SAMPLE_INTERVAL_MS = 10;

interface Tool {
  name: string;
  /** The Debian package that provides it, installed when missing. */
  aptPackage?: string;
  argv(hosts: string[], sshConfig: string, dir: string): Promise<string[]>;
  env?(sshConfig: string): Record<string, string>;
}

const TOOLS: Tool[] = [
  {
    name: "sessions exec",
    argv: (hosts, sshConfig) =>
      Promise.resolve([
        ...sessionsArgv(),
        "exec",
        "--parallel",
        String(FAN_OUT),
        "-F",
        sshConfig,
        "--targets",
        hosts.join(","),
        REMOTE_COMMAND,
      ]),
  },
  {
    name: "pdsh",
    aptPackage: "pdsh",
    argv: (hosts) =>
      Promise.resolve([
        "pdsh",
        "-R",
        "ssh",
        "-f",
        String(FAN_OUT),
        "-w",
        hosts.join(","),
        REMOTE_COMMAND,
      ]),
    env: (sshConfig) => ({ PDSH_SSH_ARGS: `-F ${sshConfig} -x -l%u %h` }),
  },
  {
    name: "parallel-ssh",
    aptPackage: "pssh",
    argv: async (hosts, sshConfig, dir) => {
      const hostsFile = join(dir, "pssh-hosts");
      await Deno.writeTextFile(hostsFile, hosts.join("\n") + "\n");
      return [
        "parallel-ssh",
        "-i",
        "-p",
        String(FAN_OUT),
        "-h",
        hostsFile,
        "-x",
        `-F ${sshConfig}`,
        REMOTE_COMMAND,
      ];
    },
  },
  {
    name: "clush",
    aptPackage: "clustershell",
    argv: (hosts, sshConfig) =>
      Promise.resolve([
        "clush",
        "-f",
        String(FAN_OUT),
        "-o",
        `-F ${sshConfig}`,
        "-w",
        hosts.join(","),
        REMOTE_COMMAND,
      ]),
  },
];

export interface Measurement {
  tool: string;
  hosts: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  /** Hosts whose address appeared in the output (uname -n prints the machine name, so lines are counted). */
  answered: number;
  exitCode: number;
  /** The 1-minute load average just before the run: these machines are shared. */
  loadBefore: number;
}

async function ensureInstalled(tools: Tool[]): Promise<void> {
  const missing: string[] = [];
  for (const tool of tools) {
    if (tool.aptPackage && !await onPath(tool.name.split(" ")[0])) {
      missing.push(tool.aptPackage);
    }
  }
  if (missing.length > 0) await aptInstall(missing);
}

function treeRssKb(pid: number): number {
  let total = 0;
  for (const member of [pid, ...descendantsOf(pid)]) {
    try {
      const status = Deno.readTextFileSync(`/proc/${member}/status`);
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      if (match) total += Number(match[1]);
    } catch { /* exited meanwhile */ }
  }
  return total;
}

async function measure(
  tool: Tool,
  hosts: string[],
  sshConfig: string,
  dir: string,
): Promise<Measurement> {
  const timeFile = join(dir, "time.out");
  const argv = await tool.argv(hosts, sshConfig, dir);
  const loadBefore = Number(
    (await Deno.readTextFile("/proc/loadavg")).split(" ")[0],
  );
  const child = new Deno.Command("/usr/bin/time", {
    args: ["-o", timeFile, "-f", "%e %U %S", ...argv],
    env: { NO_COLOR: "1", ...tool.env?.(sshConfig) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peakKb = 0;
  const sampler = setInterval(() => {
    peakKb = Math.max(peakKb, treeRssKb(child.pid));
  }, SAMPLE_INTERVAL_MS);
  const output = await child.output();
  clearInterval(sampler);
  const [wall, user, sys] = (await Deno.readTextFile(timeFile)).trim()
    .split("\n").pop()!.split(" ").map(Number);
  const stdout = new TextDecoder().decode(output.stdout);
  const lines = stdout.split("\n").filter((line) => line.trim() !== "");
  // Every tool prints one `uname -n` line per host (parallel-ssh adds a status line per host).
  const answered = tool.name === "parallel-ssh"
    ? lines.filter((line) => /\[SUCCESS\]/.test(line)).length
    : lines.length;
  return {
    tool: tool.name,
    hosts: hosts.length,
    wallSeconds: wall,
    // The /usr/bin/time process itself is not in its own figures.
    cpuSeconds: user + sys,
    peakRssMb: peakKb / 1024,
    answered,
    exitCode: output.code,
    loadBefore,
  };
}

export function formatTable(rows: Measurement[]): string {
  const header = [
    "| hosts | tool | wall (s) | client CPU (s) | CPU per host (ms) | peak memory (MB) | hosts answered | load before |",
    "| ----: | ---- | -------: | -------------: | ----------------: | ---------------: | -------------: | ----------: |",
  ];
  const body = rows.map((row) =>
    `| ${row.hosts} | ${row.tool} | ${row.wallSeconds.toFixed(2)} | ${
      row.cpuSeconds.toFixed(2)
    } | ${(row.cpuSeconds * 1000 / row.hosts).toFixed(1)} | ${
      row.peakRssMb.toFixed(0)
    } | ${row.answered}/${row.hosts} | ${row.loadBefore.toFixed(1)} |`
  );
  return [...header, ...body].join("\n");
}

/** Runs every tool on every host count; returns the rows (sessions first within each count). */
export async function runExecBenchmark(
  counts: readonly number[] = HOST_COUNTS,
  log: (line: string) => void = (line) => console.error(line),
): Promise<Measurement[]> {
  await ensureInstalled(TOOLS);
  const max = Math.max(...counts);
  const keys = await createClientKeys();
  const dir = await Deno.makeTempDir({ prefix: "sessions-bench-exec-" });
  const cluster = await startSshd({ count: max, keys });
  const rows: Measurement[] = [];
  try {
    const { sshConfig } = await writeClusterSshFiles(dir, cluster, keys.key, [
      "StrictHostKeyChecking yes",
      "BatchMode yes",
    ]);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const count of counts) {
        const hosts = cluster.addresses.slice(0, count);
        for (const tool of TOOLS) {
          const row = await measure(tool, hosts, sshConfig, dir);
          log(
            `round ${round}/${ROUNDS}: ${tool.name} ${count} hosts: ${row.wallSeconds}s wall, ${
              row.cpuSeconds.toFixed(2)
            }s CPU, ${
              row.peakRssMb.toFixed(0)
            } MB, ${row.answered} answered, exit ${row.exitCode}`,
          );
          rows.push(row);
        }
      }
    }
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(keys.dir, { recursive: true }).catch(() => {});
  }
  return rows;
}

/**
 * One row per tool and host count: the median of each figure over its runs,
 * the fewest hosts answered, and the worst exit code. Order of first
 * appearance is kept.
 */
export function medianRows(runs: readonly Measurement[]): Measurement[] {
  const groups = new Map<string, Measurement[]>();
  for (const run of runs) {
    const key = `${run.hosts} ${run.tool}`;
    const group = groups.get(key);
    if (group) group.push(run);
    else groups.set(key, [run]);
  }
  return [...groups.values()].map((group) => ({
    tool: group[0].tool,
    hosts: group[0].hosts,
    wallSeconds: median(group.map((run) => run.wallSeconds)),
    cpuSeconds: median(group.map((run) => run.cpuSeconds)),
    peakRssMb: median(group.map((run) => run.peakRssMb)),
    answered: Math.min(...group.map((run) => run.answered)),
    exitCode: Math.max(...group.map((run) => run.exitCode)),
    loadBefore: median(group.map((run) => run.loadBefore)),
  }));
}

/** The line y = slope·x + intercept closest to POINTS, or null for fewer than two distinct x. */
export function leastSquares(
  points: readonly (readonly [number, number])[],
): { slope: number; intercept: number } | null {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const spread = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  if (n < 2 || spread === 0) return null;
  const slope = points.reduce(
    (sum, [x, y]) => sum + (x - meanX) * (y - meanY),
    0,
  ) / spread;
  return { slope, intercept: meanY - slope * meanX };
}

/** The Markdown for BENCHMARKS.md: table, verdict against the targets, how to reproduce. */
export function formatSection(runs: Measurement[], date: Date): string {
  const rows = medianRows(runs);
  const largest = Math.max(...rows.map((row) => row.hosts));
  const atLargest = rows.filter((row) => row.hosts === largest);
  const ours = atLargest.find((row) => row.tool === "sessions exec");
  const others = atLargest.filter((row) => row.tool !== "sessions exec");
  const lines = [
    "## exec: `uname -n` on many hosts",
    "",
    `Measured ${
      date.toISOString().slice(0, 16).replace("T", " ")
    } UTC on ${navigator.hardwareConcurrency} cores, fan-out ${FAN_OUT} for every tool, against the same real sshds on loopback addresses (one sshd per 16 addresses). Client CPU is user+sys of the whole process tree (GNU time; every tool waits for its ssh children); peak memory is the largest sum of resident memory of the tree, sampled from /proc every ${SAMPLE_INTERVAL_MS} ms. Every figure is the median of ${ROUNDS} runs, made in rounds through all counts and tools. \`sessions\` runs as \`deno run\` from source (no compiled binary here), so its figures include Deno's start-up. The sshds run on the same 2 cores as the clients and the machine is shared with other work (see the load column), so wall times are noisy and mostly measure the servers; client CPU and memory are the stable figures.`,
    "",
    formatTable(rows),
    "",
  ];
  if (ours && others.length > 0) {
    const best = Math.min(...others.map((row) => row.wallSeconds));
    lines.push(
      `At ${largest} hosts: wall ${ours.wallSeconds.toFixed(2)} s = ${
        (ours.wallSeconds / best).toFixed(2)
      }x the best other tool (target ≤ 0.6x); CPU ${
        (ours.cpuSeconds * 1000 / largest).toFixed(1)
      } ms per host (target ≤ 6 ms); peak memory ${
        ours.peakRssMb.toFixed(0)
      } MB (target < 100 MB). Its CPU per host over the ${ROUNDS} runs: ${
        runs.filter((run) => run.tool === ours.tool && run.hosts === largest)
          .map((run) => (run.cpuSeconds * 1000 / largest).toFixed(1))
          .join(", ")
      } ms.`,
      "",
    );
    const othersPerHost = others.map((row) => row.cpuSeconds * 1000 / largest);
    lines.push(
      `For scale: in the same runs the OpenSSH-based tools used ${
        Math.min(...othersPerHost).toFixed(0)
      }-${
        Math.max(...othersPerHost).toFixed(0)
      } ms of CPU per host. The machine's speed moves every figure (by several percent within an hour here), so compare runs through this range too.`,
      "",
    );
    const fit = leastSquares(
      runs.filter((run) => run.tool === "sessions exec").map((run) => [
        run.hosts,
        run.cpuSeconds,
      ]),
    );
    if (fit) {
      lines.push(
        `A least-squares line through \`sessions exec\`'s runs puts its CPU at ${
          (fit.slope * 1000).toFixed(1)
        } ms per host plus ${
          fit.intercept.toFixed(2)
        } s that does not grow with the hosts: start-up (Deno, its Node compatibility layer, ssh2, the config files) and the first connections' warm-up.`,
        "",
      );
    }
  }
  lines.push(
    "Reproduce: `deno task bench exec` (or `deno run -A scripts/bench/exec.ts --write BENCHMARKS.md`); it installs pdsh, pssh and clustershell with apt-get when missing.",
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const rows = await runExecBenchmark();
  const section = formatSection(rows, new Date());
  console.log(section);
  const at = Deno.args.indexOf("--write");
  if (at >= 0) await writeSection(Deno.args[at + 1], "exec", section);
}
