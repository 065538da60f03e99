/**
 * zellij behind the Backend interface, through zellij's documented CLI
 * (facts read from zellij v0.45.0; minimum versions noted per command).
 *
 * Every session name is passed after `--`, so a name such as `-h` or
 * `options` (a subcommand of `zellij attach`) is always read as a name.
 */
import type { ProcessResult, ProcessRunner } from "./process.ts";
import {
  type AttachMode,
  type Backend,
  BackendError,
  type BackendName,
  type CreateOptions,
  hasControlCharacter,
  type Session,
  withoutOtherSessions,
  withoutSession,
} from "./types.ts";

/** One line of `zellij list-sessions --no-formatting`. */
export interface ZellijListing {
  name: string;
  /** Null when the age is not in a form we know. */
  created: Date | null;
  /** Marked `(current)`: the session the listing process runs inside. */
  current: boolean;
  /** Marked `(EXITED - attach to resurrect)`: no server runs, zellij can resurrect it. */
  exited: boolean;
}

const NO_SESSIONS = "No active zellij sessions found.";
// deno-lint-ignore no-control-regex
const ANSI_ESCAPE = /\x1b\[[0-?]*[ -\/]*[@-~]/g;
/** The name is greedy so that a name holding ` [Created ` keeps it. */
const LISTING_LINE = /^(.*) \[Created (.*) ago\] ?(.*)$/;

/** Seconds per unit of zellij's ages (humantime: a year is 365.25 days, a month 30.44). */
const UNIT_SECONDS: Record<string, number> = {
  year: 31_557_600,
  month: 2_630_016,
  week: 604_800,
  w: 604_800,
  day: 86_400,
  d: 86_400,
  h: 3_600,
  m: 60,
  s: 1,
  ms: 0.001,
  us: 0.000001,
  "µs": 0.000001,
  ns: 0.000000001,
};

/** "2h 5m 3s", "1year 2months 3days 4h" or "0s" in seconds; null for anything else. */
export function parseZellijAge(text: string): number | null {
  const parts = text.trim().split(/\s+/);
  let seconds = 0;
  for (const part of parts) {
    const match = /^(\d+)([a-zµ]+)$/.exec(part);
    if (!match) return null;
    const unit = match[2].replace(/^(year|month|week|day)s$/, "$1");
    const scale = UNIT_SECONDS[unit];
    if (scale === undefined) return null;
    seconds += Number(match[1]) * scale;
  }
  return seconds;
}

/**
 * Parses `zellij list-sessions --no-formatting` (also the coloured form,
 * whose escapes are stripped). Lines that are not session lines are skipped.
 */
export function parseZellijSessions(
  stdout: string,
  now: Date,
): ZellijListing[] {
  const sessions: ZellijListing[] = [];
  for (const rawLine of stdout.split("\n")) {
    const line = rawLine.replace(ANSI_ESCAPE, "").replace(/\r$/, "");
    const match = LISTING_LINE.exec(line);
    if (!match) continue;
    const [, name, age, suffix] = match;
    const seconds = parseZellijAge(age);
    sessions.push({
      name,
      created: seconds === null
        ? null
        : new Date(now.getTime() - Math.round(seconds * 1000)),
      current: suffix.trim() === "(current)",
      exited: suffix.includes("EXITED"),
    });
  }
  return sessions;
}

/** Whether a failed `zellij list-sessions` only means "there are none". */
export function isNoSessionsOutput(result: ProcessResult): boolean {
  return result.stderr.includes(NO_SESSIONS) ||
    result.stdout.includes(NO_SESSIONS);
}

/**
 * The directory holding zellij's session sockets: ZELLIJ_SOCKET_DIR, else
 * $XDG_RUNTIME_DIR/zellij, else $TMPDIR/zellij-UID (TMPDIR defaulting to
 * /tmp), plus a per-protocol component. zellij 0.44+ appends
 * `contract_version_1`, older releases their version (e.g. `0.43.1`); we
 * assume the longer one so a name we accept fits every release.
 */
export function zellijSocketDir(
  env: (name: string) => string | undefined,
  uid: number | null,
): string {
  const base = env("ZELLIJ_SOCKET_DIR") ?? runtimeDir(env) ??
    `${env("TMPDIR") ?? "/tmp"}/zellij-${uid ?? 0}`;
  return `${base.replace(/\/+$/, "")}/contract_version_1`;
}

function runtimeDir(env: (name: string) => string | undefined): string | null {
  const dir = env("XDG_RUNTIME_DIR");
  return dir !== undefined && dir.startsWith("/") ? `${dir}/zellij` : null;
}

/** sockaddr_un.sun_path: the socket path must be shorter than this. */
const SOCKET_PATH_LIMIT = Deno.build.os === "darwin" ? 104 : 108;
const encoder = new TextEncoder();

export function zellijNameProblem(
  name: string,
  socketDir: string,
): string | null {
  if (name.trim() === "") return "a zellij session name cannot be empty";
  if (name === "." || name === "..") {
    return `'${name}' is not a valid zellij session name`;
  }
  if (name.includes("/")) return "a zellij session name cannot contain '/'";
  if (hasControlCharacter(name)) {
    return "a zellij session name cannot contain control characters";
  }
  const pathBytes = encoder.encode(`${socketDir}/${name}`).length;
  if (pathBytes >= SOCKET_PATH_LIMIT) {
    const room = SOCKET_PATH_LIMIT - 1 -
      encoder.encode(`${socketDir}/`).length;
    return `the zellij session name is too long: at most ${
      Math.max(room, 0)
    } bytes fit in the socket path ${socketDir}/`;
  }
  return null;
}

/** How long kill waits for a killed server to go before deleting its record. */
const KILL_WAIT_STEPS = 50;
const KILL_WAIT_MS = 100;

export class ZellijBackend implements Backend {
  readonly name: BackendName = "zellij";

  constructor(
    private readonly runner: ProcessRunner,
    private readonly isTerminal: () => boolean = () =>
      Deno.stdin.isTerminal() && Deno.stdout.isTerminal(),
  ) {}

  isInstalled(): boolean {
    return this.runner.which("zellij") !== null;
  }

  /**
   * zellij's listing says nothing about clients, so a live session is
   * "detached" except the one this process runs inside ("attached");
   * clients and windows are unknown (null).
   */
  async list(options: { all: boolean }): Promise<Session[]> {
    const listings = await this.listings();
    const current = this.currentSessionName();
    return listings
      .filter((listing) => options.all || !listing.exited)
      .map((listing) => {
        const isCurrent = listing.current || listing.name === current;
        return {
          name: listing.name,
          backend: this.name,
          state: listing.exited
            ? "exited"
            : isCurrent
            ? "attached"
            : "detached",
          windows: null,
          clients: null,
          created: listing.created,
          directory: null,
          current: isCurrent,
          id: listing.name,
        };
      });
  }

  invalidNameReason(name: string): string | null {
    return zellijNameProblem(
      name,
      zellijSocketDir((key) => this.runner.env(key), currentUid()),
    );
  }

  async create(options: CreateOptions): Promise<void> {
    this.requireInstalled();
    const problem = this.invalidNameReason(options.name);
    if (problem !== null) {
      throw new BackendError("invalid-name", problem);
    }
    // `attach --create-background` would resurrect an exited session of
    // that name (and accepts a unique prefix), so look first, exactly.
    const existing = (await this.listings()).find((listing) =>
      listing.name === options.name
    );
    if (existing?.exited) {
      throw new BackendError(
        "exists",
        `an exited zellij session named '${options.name}' exists`,
        `run 'sessions kill ${options.name}' to delete it first, or 'sessions attach ${options.name}' to resurrect it`,
      );
    }
    if (existing) {
      throw new BackendError(
        "exists",
        `a zellij session named '${options.name}' already exists`,
        "pick another name, or attach to it",
      );
    }
    // Background mode ignores `options --default-cwd/--default-shell`: the
    // server inherits the caller's directory and $SHELL instead.
    await this.expectSuccess(
      ["attach", "--create-background", "--", options.name],
      "create the session",
      "it needs zellij 0.40 or later",
      {
        cwd: options.directory,
        env: { SHELL: options.shell, ...withoutOtherSessions("zellij") },
      },
    );
  }

  /**
   * Inside zellij this switches the current client (`action switch-session`,
   * zellij 0.44+); "attaching" to the session you are in does nothing.
   * Elsewhere `zellij attach` takes the terminal; an exited session is
   * resurrected by it.
   */
  async attach(
    session: Session,
    how: AttachMode = this.insideZellij() ? "switch" : "nest",
  ): Promise<number> {
    this.requireInstalled();
    // `zellij attach` falls back to a unique prefix: make sure the exact
    // name is still there right before handing it over.
    const listed = (await this.listings()).some((listing) =>
      listing.name === session.name
    );
    if (!listed) {
      throw new BackendError(
        "not-found",
        `no zellij session named '${session.name}'`,
        "see 'sessions list --all'",
      );
    }
    if (how === "switch") {
      if (session.name === this.currentSessionName()) return 0;
      await this.expectSuccess(
        ["action", "switch-session", "--", session.name],
        "switch to the session",
        "switching from inside zellij needs zellij 0.44 or later",
      );
      return 0;
    }
    if (!this.isTerminal()) {
      throw new BackendError(
        "not-a-terminal",
        "attaching needs a terminal",
        "run it from an interactive terminal",
      );
    }
    // Nested in a zellij pane (under screen, say): the new client must not
    // take itself for the pane's session.
    return await this.runner.interactive(
      "zellij",
      ["attach", "--", session.name],
      this.insideZellij() ? { env: withoutSession("zellij") } : undefined,
    );
  }

  async detachCurrent(): Promise<void> {
    this.requireInstalled();
    if (!this.insideZellij()) {
      throw new BackendError(
        "not-inside",
        "this is not running inside a zellij session",
        "run it inside the session, or name the session to detach",
      );
    }
    await this.expectSuccess(
      ["action", "detach"],
      "detach",
      "detaching from the command line needs zellij 0.44 or later; press Ctrl+o then d",
    );
  }

  /**
   * zellij has no command that detaches the clients of a session: `action
   * detach` only detaches the client that last typed something.
   */
  detachAll(session: Session): Promise<void> {
    return Promise.reject(
      new BackendError(
        "not-inside",
        `zellij has no command to detach every client of session '${session.name}'`,
        "in each client run 'sessions detach' or press Ctrl+o then d",
      ),
    );
  }

  /**
   * Kills and then deletes the session, so it does not linger as exited.
   * The session this process runs inside is ended by one `delete-session
   * --force`, as killing its server also ends this process.
   */
  async kill(session: Session): Promise<void> {
    this.requireInstalled();
    if (session.state === "exited") {
      await this.deleteRecord(session.name, []);
      return;
    }
    if (session.name === this.currentSessionName()) {
      await this.deleteRecord(session.name, ["--force"]);
      return;
    }
    await this.expectSuccess(
      ["kill-session", "--", session.name],
      "kill the session",
    );
    // The dying server keeps writing its resurrection record until it is
    // gone; deleting before that would let the record come back.
    for (let step = 0; step < KILL_WAIT_STEPS; step++) {
      const listing = (await this.listings()).find((entry) =>
        entry.name === session.name
      );
      if (listing === undefined) return;
      if (listing.exited) break;
      await new Promise((resolve) => setTimeout(resolve, KILL_WAIT_MS));
    }
    await this.deleteRecord(session.name, ["--force"]);
    const lingering = (await this.listings()).some((entry) =>
      entry.name === session.name
    );
    if (lingering) {
      throw new BackendError(
        "failed",
        `zellij session '${session.name}' was killed but is still listed`,
        `run 'zellij delete-session --force ${session.name}'`,
      );
    }
  }

  currentSessionName(): string | null {
    if (!this.insideZellij()) return null;
    const name = this.runner.env("ZELLIJ_SESSION_NAME");
    return name === undefined || name === "" ? null : name;
  }

  private insideZellij(): boolean {
    const value = this.runner.env("ZELLIJ");
    return value !== undefined && value !== "";
  }

  notInstalled(): BackendError {
    return new BackendError(
      "not-installed",
      "zellij is not installed",
      "install zellij 0.40 or later (https://zellij.dev/documentation/installation), or choose another --backend",
    );
  }

  private requireInstalled(): void {
    if (!this.isInstalled()) throw this.notInstalled();
  }

  private async listings(): Promise<ZellijListing[]> {
    this.requireInstalled();
    const result = await this.runner.run("zellij", [
      "list-sessions",
      "--no-formatting",
    ]);
    if (result.code === 0) {
      return parseZellijSessions(result.stdout, new Date());
    }
    if (isNoSessionsOutput(result)) return [];
    throw failure(result, "list sessions", "it needs zellij 0.39 or later");
  }

  /** `delete-session` (zellij 0.39+); a record already gone counts as done. */
  private async deleteRecord(name: string, flags: string[]): Promise<void> {
    const result = await this.runner.run("zellij", [
      "delete-session",
      ...flags,
      "--",
      name,
    ]);
    if (result.code === 0 || /Session: .* not found\./.test(result.stderr)) {
      return;
    }
    throw failure(
      result,
      "delete the session",
      "deleting needs zellij 0.39 or later",
    );
  }

  private async expectSuccess(
    args: string[],
    what: string,
    hint?: string,
    options?: { cwd?: string; env?: Record<string, string> },
  ): Promise<void> {
    const result = await this.runner.run("zellij", args, options);
    if (result.code !== 0) throw failure(result, what, hint);
  }
}

function failure(
  result: ProcessResult,
  what: string,
  hint?: string,
): BackendError {
  const said = `${result.stderr}\n${result.stdout}`
    .replace(ANSI_ESCAPE, "")
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line !== "");
  const detail = said === undefined ? `exit ${result.code}` : said;
  return new BackendError(
    "failed",
    `zellij could not ${what}: ${detail}`,
    hint,
  );
}

function currentUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    // no --allow-sys=uid, or a platform without uids
    return null;
  }
}
