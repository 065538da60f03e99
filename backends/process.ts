/**
 * How backends start programs: always an argument array, never a shell
 * string. Injectable so the zellij backend (not installable here) can be
 * tested on its exact argument lists.
 */

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ProcessOptions {
  cwd?: string;
  /** Variables added to (or, with value undefined, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
}

export interface ProcessRunner {
  /** Runs to completion with output captured and stdin closed. */
  run(
    command: string,
    args: string[],
    options?: ProcessOptions,
  ): Promise<ProcessResult>;
  /** Runs with the terminal handed over (stdio inherited); resolves to the exit code. */
  interactive(
    command: string,
    args: string[],
    options?: ProcessOptions,
  ): Promise<number>;
  /** Reads an environment variable (injectable so tests can fake "inside tmux"). */
  env(name: string): string | undefined;
  /** Full path of COMMAND on PATH, or null. */
  which(command: string): string | null;
  /**
   * This process's ancestors, nearest first, with their command names,
   * where the system tells (Linux /proc); empty elsewhere.
   */
  ancestors?(): ProcessAncestor[];
}

export interface ProcessAncestor {
  pid: number;
  /** The command name as the kernel keeps it (`comm`: at most 15 bytes). */
  name: string;
}

/**
 * `ps -A -o pid= -o ppid= -o comm=` as a map from PID to its parent and
 * command name (the last path component: macOS prints a full path).
 */
export function parsePsTable(
  text: string,
): Map<number, { parent: number; name: string }> {
  const processes = new Map<number, { parent: number; name: string }>();
  for (const line of text.split("\n")) {
    const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const name = match[3].trim();
    processes.set(Number(match[1]), {
      parent: Number(match[2]),
      name: name.slice(name.lastIndexOf("/") + 1),
    });
  }
  return processes;
}

function commandOptions(
  args: string[],
  options: ProcessOptions | undefined,
): Deno.CommandOptions {
  const env: Record<string, string> = {};
  const remove: string[] = [];
  for (const [key, value] of Object.entries(options?.env ?? {})) {
    if (value === undefined) remove.push(key);
    else env[key] = value;
  }
  if (remove.length === 0) return { args, cwd: options?.cwd, env };
  const full = Deno.env.toObject();
  for (const key of remove) delete full[key];
  return { args, cwd: options?.cwd, env: { ...full, ...env }, clearEnv: true };
}

const decoder = new TextDecoder();

export const systemRunner: ProcessRunner = {
  async run(command, args, options) {
    const output = await new Deno.Command(command, {
      ...commandOptions(args, options),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  },
  async interactive(command, args, options) {
    const status = await new Deno.Command(command, {
      ...commandOptions(args, options),
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    return status.code;
  },
  env(name) {
    return Deno.env.get(name);
  },
  ancestors() {
    // One `ps` for the whole table: Deno allows reading /proc/PID only
    // with --allow-all, and ps works on macOS too.
    let table: string;
    try {
      const output = new Deno.Command("ps", {
        args: ["-A", "-o", "pid=", "-o", "ppid=", "-o", "comm="],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      if (!output.success) return [];
      table = decoder.decode(output.stdout);
    } catch {
      return [];
    }
    const processes = parsePsTable(table);
    const found: ProcessAncestor[] = [];
    let pid = Deno.ppid;
    while (pid > 1 && found.length < 64) {
      const entry = processes.get(pid);
      if (entry === undefined) break;
      found.push({ pid, name: entry.name });
      pid = entry.parent;
    }
    return found;
  },
  which(command) {
    const path = Deno.env.get("PATH") ?? "";
    for (const dir of path.split(":")) {
      if (dir === "") continue;
      const candidate = `${dir}/${command}`;
      try {
        const info = Deno.statSync(candidate);
        if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
          return candidate;
        }
      } catch {
        // not in this directory
      }
    }
    return null;
  },
};
