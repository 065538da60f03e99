/** The one interface every multiplexer backend implements. Backends never print. */

export type BackendName = "tmux" | "screen" | "zellij";
export const BACKEND_NAMES: readonly BackendName[] = [
  "tmux",
  "screen",
  "zellij",
];

/**
 * attached/detached: live sessions. exited: zellij's resurrectable sessions.
 * dead: screen sessions whose process is gone (`Dead ???`, `Remote or dead`).
 */
export type SessionState = "attached" | "detached" | "exited" | "dead";

export interface Session {
  /** The exact name, as the backend stores it. */
  name: string;
  backend: BackendName;
  state: SessionState;
  /** Number of windows (tabs in zellij), when the backend reports it. */
  windows: number | null;
  /** Number of attached clients, when the backend reports it. */
  clients: number | null;
  /** Creation time, when the backend reports it. */
  created: Date | null;
  /** Start directory, when the backend reports it. */
  directory: string | null;
  /** True for the session this process runs inside. */
  current: boolean;
  /** The backend's own handle for exact targeting: tmux `$3`, screen `PID.NAME`, zellij the name. */
  id: string;
}

/** The variables each multiplexer sets in its sessions, which tell a program it runs inside one. */
const SESSION_VARIABLES: Record<BackendName, readonly string[]> = {
  tmux: ["TMUX", "TMUX_PANE"],
  screen: ["STY", "WINDOW"],
  zellij: ["ZELLIJ", "ZELLIJ_SESSION_NAME", "ZELLIJ_PANE_ID"],
};

/**
 * An environment change that removes BACKEND's session variables: a client
 * nested in one of its panes must not take itself for that pane's session.
 */
export function withoutSession(
  backend: BackendName,
): Record<string, undefined> {
  const env: Record<string, undefined> = {};
  for (const variable of SESSION_VARIABLES[backend]) env[variable] = undefined;
  return env;
}

/**
 * An environment change that removes the other multiplexers' session
 * variables: a session `sessions` creates from inside another multiplexer
 * must not claim to run inside it (its `detach` would act on the outer one).
 */
export function withoutOtherSessions(
  own: BackendName,
): Record<string, undefined> {
  const others = (Object.keys(SESSION_VARIABLES) as BackendName[]).filter(
    (name) => name !== own,
  );
  return Object.assign({}, ...others.map(withoutSession));
}

export type AttachMode = "switch" | "nest";

/**
 * Whether NAME holds a control character: C0, DEL or C1 (U+0080-U+009F,
 * which terminals read as escape sequences too). No backend takes one.
 */
export function hasControlCharacter(name: string): boolean {
  return /\p{Cc}/u.test(name);
}

export interface CreateOptions {
  name: string;
  /** Absolute, existing directory. */
  directory: string;
  /** Absolute path of an executable shell. */
  shell: string;
}

export type BackendErrorKind =
  | "not-installed"
  | "not-found"
  | "exists"
  | "invalid-name"
  | "not-a-terminal"
  | "not-inside"
  | "failed";

/** What went wrong in a backend, for cli/ to word and map to an exit code. */
export class BackendError extends Error {
  constructor(
    readonly kind: BackendErrorKind,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "BackendError";
  }
}

export interface Backend {
  readonly name: BackendName;
  /** Whether the multiplexer's executable is on PATH (found without spawning it). */
  isInstalled(): boolean;
  /** The error for "not installed", with this backend's own way to install it. */
  notInstalled(): BackendError;
  /** Sessions of this backend; an empty list when no server runs. `all` adds exited/dead ones. */
  list(options: { all: boolean }): Promise<Session[]>;
  /** Why NAME cannot be a session name here, or null when it can. */
  invalidNameReason(name: string): string | null;
  /** Creates a detached session; throws BackendError("exists") for a taken name. */
  create(options: CreateOptions): Promise<void>;
  /**
   * Hands the terminal to the backend and resolves to its exit code. HOW:
   * "switch" moves the client this process runs in (tmux, zellij), "nest"
   * opens a new client on this terminal; by default it switches when this
   * process runs inside the same multiplexer.
   */
  attach(session: Session, how?: AttachMode): Promise<number>;
  /** Detaches the client this process runs inside. */
  detachCurrent(): Promise<void>;
  /** Detaches every client of SESSION. */
  detachAll(session: Session): Promise<void>;
  /** Ends SESSION, by exact handle; zellij also deletes it. */
  kill(session: Session): Promise<void>;
  /** The name of the session this process runs inside, from the environment, or null. */
  currentSessionName(): string | null;
}
