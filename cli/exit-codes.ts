/**
 * Every exit code `sessions` uses. The README's "Exit codes" table mirrors
 * this list; a test checks that the two agree.
 */
export const ExitCode = {
  /** Everything asked for was done. */
  OK: 0,
  /**
   * A backend or system operation failed (the message says which). `list`
   * still prints the sessions of the backends that answered.
   */
  FAILURE: 1,
  /** Bad arguments or input: nothing was done. */
  USAGE: 2,
  /** The named session does not exist. */
  NOT_FOUND: 3,
  /** The name is taken, or more than one backend holds it. */
  CONFLICT: 4,
  /** The backend is not installed, or this needs a terminal / a session you are not in. */
  UNAVAILABLE: 5,
  /** exec: every host ran the command, and on some it exited non-zero. */
  REMOTE_COMMAND_FAILED: 6,
  /** exec: some host was unreachable or refused (auth, host key). */
  REMOTE_UNREACHABLE: 7,
  /** exec: the command timed out on some host. */
  REMOTE_TIMEOUT: 8,
  /**
   * exec: interrupted by Ctrl-C (SIGINT); SIGHUP gives 129 and SIGTERM 143
   * (128 + the signal's number, as shells report it).
   */
  INTERRUPTED: 130,
  /** connect: the connection was lost or could not be made (as ssh does). */
  CONNECTION_LOST: 255,
} as const;

export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];
