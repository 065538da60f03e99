import { BackendError, type BackendErrorKind } from "../backends/types.ts";
import { RemoteError, type RemoteErrorKind } from "../remote/errors.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { formatError, OutputWriteError, writeErr } from "./output.ts";

/**
 * A failure the user can act on: printed as one line (`sessions: MESSAGE`),
 * an optional hint line, and the exit code. Never a stack trace.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.FAILURE,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, ExitCode.USAGE, hint);
}

const BACKEND_EXIT_CODES: Record<BackendErrorKind, ExitCodeValue> = {
  "not-installed": ExitCode.UNAVAILABLE,
  "not-found": ExitCode.NOT_FOUND,
  "exists": ExitCode.CONFLICT,
  "invalid-name": ExitCode.USAGE,
  "not-a-terminal": ExitCode.UNAVAILABLE,
  "not-inside": ExitCode.UNAVAILABLE,
  "failed": ExitCode.FAILURE,
};

const REMOTE_EXIT_CODES: Record<RemoteErrorKind, ExitCodeValue> = {
  "usage": ExitCode.USAGE,
  "unreachable": ExitCode.REMOTE_UNREACHABLE,
  "auth": ExitCode.REMOTE_UNREACHABLE,
  "host-key": ExitCode.REMOTE_UNREACHABLE,
  "timeout": ExitCode.REMOTE_TIMEOUT,
  "interrupted": ExitCode.INTERRUPTED,
};

/** The CliError for a known failure, or null for a bug (which main reports differently). */
export function asCliError(error: unknown): CliError | null {
  if (error instanceof CliError) return error;
  if (error instanceof BackendError) {
    return new CliError(
      error.message,
      BACKEND_EXIT_CODES[error.kind],
      error.hint,
    );
  }
  if (error instanceof RemoteError) {
    return new CliError(
      error.message,
      REMOTE_EXIT_CODES[error.kind],
      error.hint,
    );
  }
  if (error instanceof OutputWriteError) {
    return new CliError(error.message, ExitCode.FAILURE, error.hint);
  }
  return null;
}

/**
 * Prints ERROR the way every command fails (one line; a stack only for a
 * bug and only with SESSIONS_DEBUG) and returns the exit code.
 */
export function reportError(error: unknown): ExitCodeValue {
  const cliError = asCliError(error);
  if (cliError) {
    writeErr(formatError(cliError.message, cliError.hint));
    return cliError.exitCode;
  }
  const detail = error instanceof Error
    ? (Deno.env.get("SESSIONS_DEBUG") ? error.stack : error.message)
    : String(error);
  writeErr(
    formatError(
      `internal error: ${detail}`,
      "please report this at the project's issue tracker",
    ),
  );
  return ExitCode.FAILURE;
}
