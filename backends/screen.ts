/**
 * GNU screen behind `Backend`. Screen matches `-S NAME`/`-r NAME` by unique
 * prefix when there is no exact match and accepts duplicate names, so every
 * operation targets the `PID.NAME` handle from the listing.
 */
import {
  type Backend,
  BackendError,
  type CreateOptions,
  hasControlCharacter,
  type Session,
  withoutOtherSessions,
} from "./types.ts";
import type { ProcessResult, ProcessRunner } from "./process.ts";

const SCREEN = "screen";

/** `screen -S` refuses longer names ("max length is 80 symbols"). */
export const SCREEN_NAME_MAX_BYTES = 80;
/** sun_path holds 108 bytes including the NUL; screen silently truncates longer socket paths. */
const SOCKET_PATH_MAX_BYTES = 107;
/** Linux's PID_MAX_LIMIT is 4194304: a session's PID can take 7 digits. */
const PID_MAX_DIGITS = 7;
/** How long create and kill wait for a socket to appear or go (normally milliseconds). */
const SOCKET_WAIT_MS = 5_000;
/** Where Debian's screen keeps sockets when SCREENDIR is unset (a build-time choice). */
const DEFAULT_SOCKET_ROOT = "/run/screen";

export interface ScreenEntry {
  pid: number;
  name: string;
  /** `PID.NAME`, the exact handle. */
  id: string;
  state: "attached" | "detached" | "dead";
  /** The listing's time column; null when absent or not in the C locale's form. */
  created: Date | null;
}

export interface ScreenListing {
  entries: ScreenEntry[];
  /** The socket directory screen named in its footer, or null if it named none. */
  socketDir: string | null;
}

const SESSION_LINE = /^\t(\d+)\.(.*)$/s;
const PARENTHESISED_FIELD = /\t\(([^\t]*)\)$/;
const SOCKET_DIR_LINE = /^(?:No Sockets found|\d+ Sockets?) in (.*)\.$/;
const HEADER_LINE = /^There (?:is|are) .*screens? on:$/;
/** `%x %X` in the C locale, which `list` forces with LC_ALL=C. */
const C_LOCALE_TIME = /^(\d{2})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/**
 * Parses `screen -ls`. Lines end in `\r\n` or `\n`; session lines are
 * `\tPID.NAME\t(DATE)\t(STATE)`, or `\tPID.NAME\t(STATE)` from builds that
 * print no date. Returns null when the text is not a listing at all (an
 * error message instead), because the exit code of `-ls` means nothing.
 */
export function parseScreenList(output: string): ScreenListing | null {
  const entries: ScreenEntry[] = [];
  let socketDir: string | null = null;
  let recognised = false;
  for (const rawLine of output.split("\n")) {
    const line = rawLine.replace(/\r$/, "");
    const entry = parseSessionLine(line);
    if (entry) {
      entries.push(entry);
      recognised = true;
      continue;
    }
    const dir = SOCKET_DIR_LINE.exec(line);
    if (dir) {
      socketDir = dir[1];
      recognised = true;
    } else if (HEADER_LINE.test(line)) {
      recognised = true;
    }
  }
  return recognised ? { entries, socketDir } : null;
}

function parseSessionLine(line: string): ScreenEntry | null {
  const stateField = PARENTHESISED_FIELD.exec(line);
  if (!stateField) return null;
  let rest = line.slice(0, stateField.index);
  let created: Date | null = null;
  const dateField = PARENTHESISED_FIELD.exec(rest);
  if (dateField) {
    created = parseScreenTime(dateField[1]);
    rest = rest.slice(0, dateField.index);
  }
  const handle = SESSION_LINE.exec(rest);
  if (!handle) return null;
  const [, pid, name] = handle;
  return {
    pid: Number(pid),
    name,
    id: `${pid}.${name}`,
    state: screenState(stateField[1]),
    created,
  };
}

/** `Attached`, `Multi, attached` → attached; `Dead ???`, `Remote or dead` (and anything unknown) → dead. */
function screenState(text: string): ScreenEntry["state"] {
  const lower = text.toLowerCase();
  if (lower.includes("dead")) return "dead";
  if (lower.includes("detached")) return "detached";
  if (lower.includes("attached")) return "attached";
  return "dead";
}

/** `MM/DD/YY HH:MM:SS` in local time (what screen printed with localtime()), else null. */
export function parseScreenTime(text: string): Date | null {
  const match = C_LOCALE_TIME.exec(text);
  if (!match) return null;
  const [month, day, year, hours, minutes, seconds] = match.slice(1).map(
    Number,
  );
  const date = new Date(
    2000 + year,
    month - 1,
    day,
    hours,
    minutes,
    seconds,
  );
  // new Date rolls 02/31 over into March: reject what does not round-trip.
  return date.getMonth() === month - 1 && date.getDate() === day &&
      hours < 24 && minutes < 60 && seconds < 60
    ? date
    : null;
}

const encoder = new TextEncoder();
const byteLength = (text: string) => encoder.encode(text).length;

/** Why NAME cannot be a screen session with sockets in SOCKETDIR, or null. */
export function screenNameProblem(
  name: string,
  socketDir: string,
): string | null {
  if (name === "") return "a session name cannot be empty";
  if (name.includes("/")) return "a screen session name cannot contain '/'";
  if (hasControlCharacter(name)) {
    return "a session name cannot contain control characters";
  }
  const bytes = byteLength(name);
  if (bytes > SCREEN_NAME_MAX_BYTES) {
    return `a screen session name can have at most ${SCREEN_NAME_MAX_BYTES} bytes (this one has ${bytes})`;
  }
  const pathBytes = byteLength(socketDir) + 1 + PID_MAX_DIGITS + 1 + bytes;
  if (pathBytes > SOCKET_PATH_MAX_BYTES) {
    const room = bytes - (pathBytes - SOCKET_PATH_MAX_BYTES);
    return `the name is too long for screen's socket path in ${socketDir} (at most ${
      Math.max(room, 0)
    } bytes fit there)`;
  }
  return null;
}

function firstLine(result: ProcessResult): string {
  return `${result.stdout}\n${result.stderr}`.split(/\r?\n/).map((line) =>
    line.trim()
  ).find((line) => line !== "") ?? `exit code ${result.code}`;
}

/**
 * What to do when screen refuses its socket directory (SCREENDIR, or its
 * built-in one): it accepts only a directory of its user with mode 700.
 */
function socketDirHint(said: string): string {
  if (/must have mode 700/.test(said)) {
    return "screen accepts only a private socket directory: chmod 700 it, or set SCREENDIR to another";
  }
  if (/not the owner/i.test(said)) {
    return "screen accepts only a socket directory you own: set SCREENDIR to one of yours";
  }
  return "check SCREENDIR and its socket directory; 'screen -ls' shows the same error";
}

export class ScreenBackend implements Backend {
  readonly name = "screen" as const;

  constructor(private readonly runner: ProcessRunner) {}

  isInstalled(): boolean {
    return this.runner.which(SCREEN) !== null;
  }

  async list(options: { all: boolean }): Promise<Session[]> {
    const { entries } = await this.listing();
    const current = this.runner.env("STY");
    return entries
      .filter((entry) => options.all || entry.state !== "dead")
      .map((entry) => ({
        name: entry.name,
        backend: this.name,
        state: entry.state,
        windows: null,
        clients: null,
        created: entry.created,
        directory: null,
        current: entry.id === current,
        id: entry.id,
      }));
  }

  invalidNameReason(name: string): string | null {
    return screenNameProblem(name, this.defaultSocketDir());
  }

  async create(options: CreateOptions): Promise<void> {
    this.requireInstalled();
    const earlyProblem = this.invalidNameReason(options.name);
    if (earlyProblem) throw new BackendError("invalid-name", earlyProblem);
    const before = await this.listing();
    // The footer names the real socket directory, which the early check could only guess.
    const problem = before.socketDir &&
      screenNameProblem(options.name, before.socketDir);
    if (problem) throw new BackendError("invalid-name", problem);
    const sameName = before.entries.filter((entry) =>
      entry.name === options.name
    );
    if (sameName.some((entry) => entry.state !== "dead")) {
      throw new BackendError(
        "exists",
        `screen session '${options.name}' already exists`,
        "choose another name, or attach to it",
      );
    }
    // A dead socket holding the name would make the name ambiguous once the new session exists.
    for (const dead of sameName) {
      await this.runner.run(SCREEN, ["-wipe", dead.id]);
    }

    const result = await this.runner.run(
      SCREEN,
      ["-dmS", options.name, "-s", options.shell],
      { cwd: options.directory, env: withoutOtherSessions("screen") },
    );
    if (result.code !== 0) {
      throw new BackendError(
        "failed",
        `screen could not create session '${options.name}': ${
          firstLine(result)
        }`,
      );
    }
    await this.verifyCreated(options.name, before);
  }

  /**
   * `screen -dmS` can return before the socket exists, and exits 0 even
   * when it made the socket under a shortened name (socket paths longer
   * than 107 bytes are cut): wait for the exact name, and end a session
   * created under a cut name, so nothing is half-done.
   */
  private async verifyCreated(
    name: string,
    before: ScreenListing,
  ): Promise<void> {
    const known = new Set(before.entries.map((entry) => entry.pid));
    const isCut = (entry: ScreenEntry) =>
      before.socketDir !== null && entry.name !== name &&
      name.startsWith(entry.name) &&
      byteLength(`${before.socketDir}/${entry.id}`) === SOCKET_PATH_MAX_BYTES;
    const fresh =
      (await this.pollListing((entries) =>
        entries.some((entry) =>
          !known.has(entry.pid) && (entry.name === name || isCut(entry))
        )
      )).entries.filter((entry) => !known.has(entry.pid));
    if (fresh.some((entry) => entry.name === name)) return;
    for (const stray of fresh.filter(isCut)) {
      await this.runner.run(SCREEN, ["-S", stray.id, "-X", "quit"]);
    }
    throw new BackendError(
      "failed",
      `screen reported success but session '${name}' does not exist`,
      "try a shorter name or a shorter SCREENDIR",
    );
  }

  async attach(session: Session): Promise<number> {
    this.requireInstalled();
    if (session.state === "dead") {
      throw new BackendError(
        "failed",
        `screen session '${session.name}' is dead`,
        `remove it with 'sessions kill ${session.name}'`,
      );
    }
    if (session.id === this.runner.env("STY")) {
      throw new BackendError(
        "failed",
        `you are already inside screen session '${session.name}'`,
      );
    }
    // -x shares the session like tmux's attach: other clients stay attached.
    return await this.runner.interactive(SCREEN, ["-x", session.id]);
  }

  async detachCurrent(): Promise<void> {
    this.requireInstalled();
    const sty = this.runner.env("STY");
    if (!sty) {
      throw new BackendError(
        "not-inside",
        "not inside a screen session (STY is not set)",
      );
    }
    const result = await this.runner.run(SCREEN, ["-d", sty]);
    if (result.code !== 0) {
      throw new BackendError(
        "failed",
        `screen could not detach '${sty}': ${firstLine(result)}`,
      );
    }
  }

  async detachAll(session: Session): Promise<void> {
    this.requireInstalled();
    const result = await this.runner.run(SCREEN, ["-d", session.id]);
    // A session with no client left (already detached) is what was asked for.
    if (
      result.code !== 0 &&
      !/no screen to be detached/i.test(`${result.stdout}${result.stderr}`)
    ) {
      throw new BackendError(
        "failed",
        `screen could not detach '${session.name}': ${firstLine(result)}`,
      );
    }
  }

  async kill(session: Session): Promise<void> {
    this.requireInstalled();
    const dead = session.state === "dead";
    // A dead session has no process to tell to quit: only its socket is left.
    const result = dead
      ? await this.runner.run(SCREEN, ["-wipe", session.id])
      : await this.runner.run(SCREEN, ["-S", session.id, "-X", "quit"]);
    if (dead || result.code === 0) {
      // quit only asks, and -wipe's exit code says nothing (as -ls's):
      // wait until the listing shows the session gone, so its name is free.
      const { settled } = await this.pollListing((entries) =>
        !entries.some((entry) =>
          entry.id === session.id && (dead || entry.state !== "dead")
        )
      );
      if (settled) return;
      throw new BackendError(
        "failed",
        dead
          ? `screen could not wipe the dead session '${session.name}'`
          : `screen session '${session.name}' still runs after being told to quit`,
      );
    }
    if (/no screen session found/i.test(`${result.stdout}${result.stderr}`)) {
      throw new BackendError(
        "not-found",
        `screen session '${session.name}' no longer exists`,
      );
    }
    throw new BackendError(
      "failed",
      `screen could not end '${session.name}': ${firstLine(result)}`,
    );
  }

  currentSessionName(): string | null {
    const sty = this.runner.env("STY");
    const dot = sty?.indexOf(".") ?? -1;
    return sty && dot > 0 ? sty.slice(dot + 1) : null;
  }

  notInstalled(): BackendError {
    return new BackendError(
      "not-installed",
      "GNU screen is not installed",
      "install it, e.g. 'apt-get install screen' or 'brew install screen'",
    );
  }

  private requireInstalled(): void {
    if (!this.isInstalled()) throw this.notInstalled();
  }

  /** One `screen -ls` (the listing is benchmarked: no process per session). */
  private async listing(): Promise<ScreenListing> {
    this.requireInstalled();
    // `%x %X` follows the locale; the C locale gives the one form we parse.
    const result = await this.runner.run(SCREEN, ["-ls"], {
      env: { LC_ALL: "C" },
    });
    const listing = parseScreenList(result.stdout);
    if (!listing) {
      const said = firstLine(result).replace(/\.$/, "");
      throw new BackendError(
        "failed",
        `screen could not list sessions: ${said}`,
        socketDirHint(said),
      );
    }
    return listing;
  }

  /** Lists until DONE holds or SOCKET_WAIT_MS have passed; the last entries and whether DONE held. */
  private async pollListing(
    done: (entries: ScreenEntry[]) => boolean,
  ): Promise<{ entries: ScreenEntry[]; settled: boolean }> {
    const deadline = Date.now() + SOCKET_WAIT_MS;
    while (true) {
      const { entries } = await this.listing();
      if (done(entries)) return { entries, settled: true };
      if (Date.now() >= deadline) return { entries, settled: false };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private defaultSocketDir(): string {
    const configured = this.runner.env("SCREENDIR");
    if (configured) return configured;
    const user = this.runner.env("USER") ?? this.runner.env("LOGNAME") ?? "";
    return `${DEFAULT_SOCKET_ROOT}/S-${user}`;
  }
}
