import { BackendError, type BackendErrorKind } from "../backends/types.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";

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
  return null;
}
