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
