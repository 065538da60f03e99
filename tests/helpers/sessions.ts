/**
 * Runs `sessions` as its own process, with exactly the flags the
 * compiled binary gets (scripts/runtime-flags.ts), never -A.
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { RUNTIME_FLAGS } from "../../scripts/runtime-flags.ts";

export const PROJECT_ROOT = fromFileUrl(new URL("../../", import.meta.url));
export const MAIN = fromFileUrl(new URL("../../main.ts", import.meta.url));

/** The argv that starts `sessions` (for a tmux pane or a spawn). */
export function sessionsArgv(): string[] {
  return [Deno.execPath(), "run", "--quiet", ...RUNTIME_FLAGS, MAIN];
}

/** `sessionsArgv()` as one shell-quoted line, for typing into a pane. */
export function sessionsShellLine(args: string[] = []): string {
  return [...sessionsArgv(), ...args].map(shellQuote).join(" ");
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}

export interface SessionsResult {
  code: number;
  /** Standard output decoded as UTF-8; `stdoutBytes` holds it as written. */
  stdout: string;
  stdoutBytes: Uint8Array;
  stderr: string;
}

export interface SessionsOptions {
  /** Replaces the environment entirely when `clearEnv` is set; otherwise adds to it. */
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  stdin?: string | Uint8Array;
}

export async function runSessions(
  args: string[],
  options: SessionsOptions = {},
): Promise<SessionsResult> {
  const [command, ...rest] = sessionsArgv();
  const child = new Deno.Command(command, {
    args: [...rest, ...args],
    env: { NO_COLOR: "1", ...options.env },
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string"
        ? new TextEncoder().encode(options.stdin)
        : options.stdin,
    );
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stdoutBytes: output.stdout,
    stderr: decoder.decode(output.stderr),
  };
}
