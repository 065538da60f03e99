/**
 * tmux behind the Backend interface. Every target is `=NAME` (exact match;
 * without `=` tmux matches prefixes, so `dev` could hit `dev2`).
 */
import type { ProcessResult, ProcessRunner } from "./process.ts";
import {
  type AttachMode,
  type Backend,
  BackendError,
  type CreateOptions,
  hasControlCharacter,
  type Session,
  withoutSession,
} from "./types.ts";

/**
 * Tab-separated with the name last: tmux (>= 3.2) stores a name with its
 * tabs and newlines escaped (`\t`, `\n`), so the last tab starts the name.
 */
export const TMUX_LIST_FORMAT = [
  "#{session_id}",
  "#{session_attached}",
  "#{session_created}",
  "#{session_windows}",
  "#{socket_path}",
  "#{session_path}",
  "#{session_name}",
].join("\t");

/** Where `$TMUX` says this process runs: `SOCKET,SERVER_PID,SESSION_NUMBER`. */
export interface TmuxLocation {
  socket: string;
  /** The session id as tmux prints it: `$` and the session number. */
  sessionId: string;
  /** The tmux server's process id: the parent of every pane. */
  serverPid: number;
}

export function parseTmuxEnv(value: string | undefined): TmuxLocation | null {
  if (value === undefined || value === "") return null;
  const match = /^(.*),(\d+),(\d+)$/s.exec(value);
  if (!match) return null;
  return {
    socket: match[1],
    sessionId: `$${match[3]}`,
    serverPid: Number(match[2]),
  };
}

/**
 * Parses `tmux list-sessions -F TMUX_LIST_FORMAT`. INSIDE marks the session
 * this process runs in (same socket and session id).
 */
export function parseTmuxSessions(
  output: string,
  inside: TmuxLocation | null,
): Session[] {
  const sessions: Session[] = [];
  for (const line of sessionLines(output)) {
    const fields = line.split("\t");
    if (fields.length < 7) {
      throw new BackendError(
        "failed",
        `unexpected line from tmux list-sessions: ${JSON.stringify(line)}`,
      );
    }
    const [id, attached, created, windows, socket] = fields;
    // A session path may itself hold tabs: it is everything between the socket and the name.
    const directory = fields.slice(5, -1).join("\t");
    const clients = Number(attached);
    const createdSeconds = Number(created);
    sessions.push({
      // The stored name, escapes and all: it is what `-t =NAME` matches.
      name: fields[fields.length - 1],
      backend: "tmux",
      state: clients > 0 ? "attached" : "detached",
      windows: Number(windows),
      clients,
      created: created !== "" && Number.isFinite(createdSeconds)
        ? new Date(createdSeconds * 1000)
        : null,
      directory: directory === "" ? null : directory,
      current: inside !== null && inside.socket === socket &&
        inside.sessionId === id,
      id,
    });
  }
  return sessions;
}

/**
 * One string per session. tmux prints a session's directory raw, so a
 * directory made outside `sessions` with a newline in it continues its
 * session on the next line. Every session's line starts with its id (`$N`
 * and a tab); a line that does not, but still holds the tab before the name
 * (tmux escapes a name's own newlines), belongs to the one before.
 */
function sessionLines(output: string): string[] {
  const lines: string[] = [];
  for (const line of output.replace(/\n$/, "").split("\n")) {
    if (lines.length > 0 && !/^\$\d+\t/.test(line) && line.includes("\t")) {
      lines[lines.length - 1] += `\n${line}`;
    } else if (line !== "") {
      lines.push(line);
    }
  }
  return lines;
}

/**
 * From `list-clients -F '#{client_activity}<TAB>#{client_name}'`, the
 * name of the latest active client, or null when there is none.
 */
export function latestClient(output: string): string | null {
  let latest: { activity: number; name: string } | null = null;
  for (const line of output.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab < 0) continue;
    const activity = Number(line.slice(0, tab));
    if (latest === null || activity > latest.activity) {
      latest = { activity, name: line.slice(tab + 1) };
    }
  }
  return latest?.name ?? null;
}

/** tmux's two ways of saying there is no server (so no sessions). */
export function isNoServerMessage(stderr: string): boolean {
  return /^no server running on |^error connecting to .*\(No such file or directory\)/m
    .test(stderr);
}

/** Why tmux cannot hold NAME exactly as typed, or null. */
export function tmuxNameProblem(name: string): string | null {
  if (name === "") return "a session name cannot be empty";
  if (hasControlCharacter(name)) {
    return "a session name cannot contain control characters";
  }
  if (name.includes("/")) return "a session name cannot contain '/'";
  if (name.includes(".") || name.includes(":")) {
    // tmux 3.2-3.6 would silently store '_' instead.
    return "a tmux session name cannot contain '.' or ':'";
  }
  if (name.includes("#")) {
    // tmux 3.3 expands #-formats in a new name (`#(cmd)` runs cmd); older
    // versions store them as typed. No escaping is right for both.
    return "a tmux session name cannot contain '#' (tmux expands #-formats in names)";
  }
  if (name.includes("$") || name.includes("\\")) {
    // tmux 3.3 would silently store them escaped, as `\$` and `\\`.
    return "a tmux session name cannot contain '$' or '\\'";
  }
  if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) {
    return `a session name cannot be longer than ${MAX_NAME_BYTES} bytes`;
  }
  return null;
}

/**
 * tmux itself has no limit; this keeps names usable in `TMUX`, titles and
 * the other backends' socket paths alike.
 */
const MAX_NAME_BYTES = 80;

/**
 * The target for an existing session: its id (`$3`), never its name. tmux
 * reads `-t =$1` as the session with id $1, not the one named `$1` (which
 * tmux itself accepts, though `create` refuses it), and ids are never
 * reused, so a session that went away between listing and acting is not
 * mistaken for another.
 */
function sessionTarget(session: Session): string {
  return session.id;
}

export class TmuxBackend implements Backend {
  readonly name = "tmux" as const;

  constructor(private readonly runner: ProcessRunner) {}

  isInstalled(): boolean {
    return this.runner.which("tmux") !== null;
  }

  async list(_options: { all: boolean }): Promise<Session[]> {
    const result = await this.tmux([
      "list-sessions",
      "-F",
      TMUX_LIST_FORMAT,
    ]);
    if (result.code !== 0) {
      if (isNoServerMessage(result.stderr)) return [];
      throw this.failure("list sessions", result);
    }
    return parseTmuxSessions(
      result.stdout,
      parseTmuxEnv(this.runner.env("TMUX")),
    );
  }

  invalidNameReason(name: string): string | null {
    return tmuxNameProblem(name);
  }

  async create(options: CreateOptions): Promise<void> {
    const problem = tmuxNameProblem(options.name);
    if (problem) throw new BackendError("invalid-name", problem);
    const result = await this.tmux([
      "new-session",
      "-d",
      "-P",
      "-F",
      "#{session_id}\t#{session_name}",
      "-s",
      options.name,
      "-c",
      options.directory,
      // More than one word makes tmux exec the command itself; one word
      // would go through `sh -c`. Not `env SHELL`: env takes a path with
      // '=' in it for a variable and would print the environment instead.
      "--",
      "/bin/sh",
      "-c",
      'exec "$0"',
      options.shell,
    ]);
    if (result.code === 0) {
      const [id, stored] = result.stdout.replace(/\n$/, "").split("\t");
      if (!id.startsWith("$") || stored === options.name) return;
      // tmux escapes what its character tables do not know (a code point
      // newer than the C library's, a line separator) as octal, and nothing
      // could find the session by the typed name again: undone at once.
      const undo = await this.tmux(["kill-session", "-t", id]);
      throw new BackendError(
        "invalid-name",
        `tmux would store the name '${options.name}' as '${stored}'` +
          (undo.code === 0
            ? ""
            : `; the session it made (${id}) could not be ended: ${undo.stderr.trim()}`),
        "choose a name of letters, digits and common symbols",
      );
    }
    if (/duplicate session/.test(result.stderr)) {
      throw new BackendError(
        "exists",
        `tmux session '${options.name}' already exists`,
        "choose another name, or attach to it",
      );
    }
    throw this.failure(`create session '${options.name}'`, result);
  }

  async attach(
    session: Session,
    how: AttachMode = this.insideTmux() ? "switch" : "nest",
  ): Promise<number> {
    if (how === "switch") {
      const client = await this.clientOfCurrentSession("switch");
      const result = await this.tmux([
        "switch-client",
        "-c",
        client,
        "-t",
        sessionTarget(session),
      ]);
      if (result.code !== 0) {
        throw this.failure(`switch to session '${session.name}'`, result);
      }
      return 0;
    }
    try {
      // Nested in a tmux pane (under screen, say), tmux refuses while TMUX is set.
      return await this.runner.interactive(
        "tmux",
        ["attach-session", "-t", sessionTarget(session)],
        this.insideTmux() ? { env: withoutSession("tmux") } : undefined,
      );
    } catch (error) {
      throw this.notInstalledOr(error);
    }
  }

  async detachCurrent(): Promise<void> {
    if (!this.insideTmux()) {
      throw new BackendError("not-inside", "this is not inside tmux");
    }
    const client = await this.clientOfCurrentSession("detach");
    const result = await this.tmux(["detach-client", "-t", client]);
    if (result.code !== 0) throw this.failure("detach", result);
  }

  /**
   * The client showing the session this process runs in; of several, the
   * latest active, as tmux itself picks. Named explicitly because tmux's
   * own "current client" falls back to any client of the server when this
   * session has none (a script in a detached session would detach or
   * switch somebody else's terminal).
   */
  private async clientOfCurrentSession(
    action: "detach" | "switch",
  ): Promise<string> {
    const sessionId = this.currentSessionName();
    const result = sessionId === null ? null : await this.tmux([
      "list-clients",
      "-t",
      sessionId,
      "-F",
      "#{client_activity}\t#{client_name}",
    ]);
    if (result !== null && result.code !== 0) {
      throw this.failure("list the clients of this session", result);
    }
    const client = latestClient(result?.stdout ?? "");
    if (client === null) {
      throw new BackendError(
        "not-inside",
        "no terminal is attached to this tmux session",
        action === "detach"
          ? "there is nothing to detach"
          : "run 'sessions attach' from a terminal",
      );
    }
    return client;
  }

  async detachAll(session: Session): Promise<void> {
    // tmux fails with "no current client" when there is nothing to detach.
    if (session.clients === 0) return;
    const result = await this.tmux([
      "detach-client",
      "-s",
      sessionTarget(session),
    ]);
    if (result.code !== 0) {
      throw this.failure(`detach session '${session.name}'`, result);
    }
  }

  async kill(session: Session): Promise<void> {
    const result = await this.tmux([
      "kill-session",
      "-t",
      sessionTarget(session),
    ]);
    if (result.code === 0) return;
    if (/can't find session|no server running/.test(result.stderr)) {
      throw new BackendError(
        "not-found",
        `no tmux session named '${session.name}'`,
      );
    }
    throw this.failure(`kill session '${session.name}'`, result);
  }

  /**
   * `$TMUX` names the session only by id (`$3`), which targets it as
   * exactly as a name does.
   */
  currentSessionName(): string | null {
    return parseTmuxEnv(this.runner.env("TMUX"))?.sessionId ?? null;
  }

  private insideTmux(): boolean {
    return parseTmuxEnv(this.runner.env("TMUX")) !== null;
  }

  private async tmux(args: string[]): Promise<ProcessResult> {
    try {
      // -u: without a UTF-8 locale (cron, `env -i`, LC_ALL=C) tmux
      // replaces the tabs of TMUX_LIST_FORMAT, and every non-ASCII name, with '_'.
      return await this.runner.run("tmux", ["-u", ...args]);
    } catch (error) {
      throw this.notInstalledOr(error);
    }
  }

  notInstalled(): BackendError {
    return new BackendError(
      "not-installed",
      "tmux is not installed",
      "install it, e.g. 'apt-get install tmux' or 'brew install tmux'",
    );
  }

  private notInstalledOr(error: unknown): unknown {
    return error instanceof Deno.errors.NotFound ? this.notInstalled() : error;
  }

  private failure(what: string, result: ProcessResult): BackendError {
    const detail = result.stderr.trim().split("\n")[0] ||
      `exit code ${result.code}`;
    return new BackendError("failed", `tmux could not ${what}: ${detail}`);
  }
}
