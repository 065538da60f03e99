/**
 * `sessions connect`, loaded only when it runs: resolves the host like exec
 * does, opens the terminal guard, connects (prompts on this terminal), then
 * hands the terminal to the remote PTY. Failures become one line and 255.
 */
import type { BackendName } from "../backends/types.ts";
import { RemoteError } from "../remote/errors.ts";
import { MissingMultiplexerError } from "../remote/connect.ts";
import { parseTargetList } from "../remote/targets.ts";
import type { Target } from "../remote/types.ts";
import { CliError, usageError } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";
import { PromptAborted } from "./terminal.ts";

export interface ConnectRequest {
  host: string;
  user?: string;
  key?: string;
  port?: number;
  configFile?: string;
  session: { name: string; backend: BackendName | null } | null;
  command: string | null;
  forwardAgent: boolean;
  acceptNew: boolean;
}

/** HOST must name exactly one target (no ranges, groups or lists). */
export function singleTarget(host: string): Target {
  let targets: Target[];
  try {
    targets = parseTargetList(host);
  } catch (error) {
    throw error instanceof RemoteError
      ? usageError(error.message, error.hint)
      : error;
  }
  if (targets.length !== 1) {
    throw usageError(
      `connect takes one host, and '${host}' names ${targets.length}`,
      "use 'sessions exec' for many hosts",
    );
  }
  return targets[0];
}

/** How connect words and codes a failure: usage 2, no multiplexer 5, everything else 255 as ssh does. */
export function connectFailure(error: unknown, hostLabel: string): unknown {
  if (error instanceof MissingMultiplexerError) {
    return new CliError(error.message, ExitCode.UNAVAILABLE, error.hint);
  }
  if (error instanceof RemoteError) {
    return new CliError(
      error.message,
      error.kind === "usage" ? ExitCode.USAGE : ExitCode.CONNECTION_LOST,
      error.hint,
    );
  }
  if (error instanceof PromptAborted) {
    return new CliError(
      `connection to ${hostLabel} abandoned at a prompt`,
      ExitCode.CONNECTION_LOST,
    );
  }
  return error;
}

export function runConnect(request: ConnectRequest): Promise<number> {
  singleTarget(request.host);
  // Wired to remote/connection.ts once it lands (it is being written in parallel).
  return Promise.reject(new CliError("'connect' is not wired to SSH yet"));
}
