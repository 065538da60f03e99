/**
 * The local commands (list, create, attach, detach, kill): options in,
 * backend calls, text or JSON out. No commander here: the `list` fast path
 * (cli/fast-path.ts) runs `runList` without loading it.
 */
import { type ProcessRunner, systemRunner } from "../backends/process.ts";
import { Backends } from "../backends/registry.ts";
import {
  type Backend,
  BACKEND_NAMES,
  BackendError,
  type BackendName,
  hasControlCharacter,
  type Session,
} from "../backends/types.ts";
import { CliError, usageError } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";
import {
  escapeControl,
  formatError,
  formatTable,
  osReason,
  paint,
  singleQuote,
  writeErr,
  writeOut,
} from "./output.ts";

export interface GlobalOptions {
  backend?: BackendName;
}

/** `--backend` as commander (or the fast path) parsed it, already checked against the choices. */
export function backendOption(value: unknown): BackendName | undefined {
  return BACKEND_NAMES.find((name) => name === value);
}

/**
 * SESSIONS_BACKEND, read only by the local commands (a bad value must not
 * break `--help`, exec or connect). Empty counts as unset.
 */
export function backendFromEnvironment(
  value: string | undefined,
): BackendName | undefined {
  if (value === undefined || value === "") return undefined;
  const backend = backendOption(value);
  if (backend === undefined) {
    throw usageError(
      `SESSIONS_BACKEND is '${value}', which is not a backend`,
      `set it to ${BACKEND_NAMES.join(", ")}, or unset it`,
    );
  }
  return backend;
}

/** A command as commander parsed it, and the program above it. */
export interface ParsedCommand {
  opts(): object;
  readonly parent: { opts(): object } | null;
}

/**
 * The global options for COMMAND. `--backend` typed after the command (its
 * own copy) beats the program's (typed before it): the later word wins, as
 * in the fast path (commander's optsWithGlobals() would let the program's
 * win). Without either, SESSIONS_BACKEND.
 */
export function globalOptions(command: ParsedCommand): GlobalOptions {
  const own: { backend?: unknown } = command.opts();
  const program: { backend?: unknown } = command.parent?.opts() ?? {};
  const typed = backendOption(own.backend ?? program.backend);
  return {
    backend: typed ??
      backendFromEnvironment(Deno.env.get("SESSIONS_BACKEND")),
  };
}

export interface ListOptions extends GlobalOptions {
  all: boolean;
  json: boolean;
}

export interface CreateCommandOptions extends GlobalOptions {
  shell?: string;
  directory?: string;
  attach: boolean;
}

export interface AttachOptions extends GlobalOptions {
  create: boolean;
}

/** One element of `sessions list --json`; the field names are a documented contract. */
export interface SessionJson {
  name: string;
  backend: BackendName;
  state: Session["state"];
  windows: number | null;
  clients: number | null;
  created: string | null;
  directory: string | null;
  current: boolean;
}

export function sessionJson(session: Session): SessionJson {
  return {
    name: session.name,
    backend: session.backend,
    state: session.state,
    windows: session.windows,
    clients: session.clients,
    created: session.created?.toISOString() ?? null,
    directory: session.directory,
    current: session.current,
  };
}

/**
 * Prints the sessions. Without `--backend`, a backend that cannot be listed
 * costs only its own rows: the others' are printed, then one line per
 * failed backend on stderr, and the run fails with exit 1.
 */
export async function runList(
  options: ListOptions,
  runner: ProcessRunner = systemRunner,
): Promise<number> {
  const { sessions, failures } = await new Backends(runner, options.backend)
    .listAvailable(options.all);
  if (options.json) {
    writeOut(JSON.stringify(sessions.map(sessionJson), null, 2) + "\n");
  } else if (sessions.length > 0) {
    writeOut(sessionTable(sessions, new Date(), runner.env("HOME")));
  } else if (failures.length === 0 && Deno.stdout.isTerminal()) {
    writeErr("no sessions\n");
  }
  for (const { error } of failures) {
    writeErr(formatError(error.message, error.hint));
  }
  // Rows may be missing: a script must not take this listing for complete.
  return failures.length === 0 ? ExitCode.OK : ExitCode.FAILURE;
}

/** The `list` table: a `*` marks the current session; unknown values are `-`. */
export function sessionTable(
  sessions: readonly Session[],
  now: Date,
  home: string | undefined,
): string {
  const rows = sessions.map((session) => [
    session.current ? "*" : " ",
    escapeControl(session.name),
    session.backend,
    session.state,
    session.windows?.toString() ?? "-",
    session.clients?.toString() ?? "-",
    session.created
      ? formatAge(now.getTime() - session.created.getTime())
      : "-",
    session.directory
      ? escapeControl(shortenHome(session.directory, home))
      : "-",
  ]);
  return formatTable(
    ["", "NAME", "BACKEND", "STATE", "WINDOWS", "CLIENTS", "AGE", "DIRECTORY"],
    rows,
    (header) => paint(header, "bold", Deno.stdout),
  );
}

/** An age in the largest whole unit: `42s`, `3m`, `2h`, `4d`. */
export function formatAge(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function shortenHome(directory: string, home: string | undefined): string {
  if (!home || home === "/") return directory;
  if (directory === home) return "~";
  return directory.startsWith(home + "/")
    ? "~" + directory.slice(home.length)
    : directory;
}

export async function runCreate(
  name: string,
  options: CreateCommandOptions,
  runner: ProcessRunner = systemRunner,
): Promise<void> {
  const backends = new Backends(runner, options.backend);
  const backend = backends.forCreating();
  const problem = backend.invalidNameReason(name);
  if (problem) {
    throw usageError(
      `invalid ${backend.name} session name '${name}': ${problem}`,
      "choose another name",
    );
  }
  // Loaded here, not at start-up: node: modules cost `list` about 30 ms.
  const { resolve } = await import("node:path");
  if (options.directory === "") {
    throw usageError(
      "--directory is empty",
      "give a directory, or leave out --directory for the current one",
    );
  }
  const directory = await existingDirectory(
    resolve(options.directory ?? "."),
  );
  const fromEnvironment = runner.env("SHELL") || undefined;
  const shell = await executableShell(
    options.shell ?? fromEnvironment ?? "/bin/sh",
    options.shell === undefined && fromEnvironment !== undefined,
    resolve,
    runner,
  );
  if (options.attach) requireTerminal();
  // Screen would accept a duplicate: check every backend the same way first.
  const existing = (await backend.list({ all: true })).find((session) =>
    session.name === name
  );
  if (existing) {
    // The hint must be a command that works: quoted, after `--`, the right
    // one for a session that is no longer running, and naming the backend
    // (another one may hold the same name, and then the command would ask).
    const quoted = `--backend ${backend.name} -- ${shellWord(name)}`;
    const hint = existing.state === "dead"
      ? `it is a dead screen session; remove it with: sessions kill ${quoted}`
      : existing.state === "exited"
      ? `it has exited; delete it with: sessions kill ${quoted}, or bring it back with: sessions attach ${quoted}`
      : `attach to it with: sessions attach ${quoted}`;
    throw new CliError(
      `a ${backend.name} session named '${name}' already exists`,
      ExitCode.CONFLICT,
      hint,
    );
  }
  await backend.create({ name, directory, shell });
  if (options.attach) {
    const { session } = await new Backends(runner, backend.name).find(name);
    Deno.exitCode = await attachTo(backend, session, backends);
  }
}

/** NAME as one word for a POSIX shell: bare when safe, else single-quoted. */
function shellWord(name: string): string {
  return /^[A-Za-z0-9_.,:=@%+-]+$/.test(name) ? name : singleQuote(name);
}

async function existingDirectory(absolute: string): Promise<string> {
  // tmux prints a session's directory raw, one session per line: a newline
  // in it would split the listing that every later command reads.
  if (hasControlCharacter(absolute)) {
    throw usageError(
      `directory '${absolute}' contains a control character`,
      "choose another with --directory",
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(absolute);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw usageError(
        `directory '${absolute}' does not exist`,
        "create it first or choose another with --directory",
      );
    }
    // Not a directory on the way, a name too long, no permission: the OS says which.
    throw usageError(
      `cannot use directory '${absolute}': ${osReason(error)}`,
      "choose another with --directory",
    );
  }
  if (!info.isDirectory) {
    throw usageError(
      `'${absolute}' is not a directory`,
      "choose a directory with --directory",
    );
  }
  return absolute;
}

/** SHELL as an absolute path: a bare name is looked up on PATH, like a shell would. */
async function executableShell(
  shell: string,
  fromShellVariable: boolean,
  resolve: (path: string) => string,
  runner: ProcessRunner,
): Promise<string> {
  const absolute = shell.includes("/") ? resolve(shell) : runner.which(shell);
  const info = absolute === null
    ? null
    : await Deno.stat(absolute).catch(() => null);
  if (
    absolute === null || !info || !info.isFile ||
    ((info.mode ?? 0o111) & 0o111) === 0
  ) {
    throw usageError(
      `shell '${shell}'${
        fromShellVariable ? " (from $SHELL)" : ""
      } is not an executable file`,
      fromShellVariable
        ? "fix SHELL, or pass an existing shell with --shell, e.g. --shell /bin/sh"
        : "pass an existing shell with --shell, e.g. --shell /bin/sh",
    );
  }
  return absolute;
}

function requireTerminal(): void {
  if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) {
    throw new CliError(
      "attaching needs a terminal, and standard input or output is not one",
      ExitCode.UNAVAILABLE,
      "run it from an interactive terminal",
    );
  }
}

export async function runAttach(
  name: string,
  options: AttachOptions,
  runner: ProcessRunner = systemRunner,
): Promise<void> {
  requireTerminal();
  const backends = new Backends(runner, options.backend);
  let found: { session: Session; backend: Backend };
  try {
    found = await backends.find(name);
  } catch (error) {
    if (!options.create || !isNotFound(error)) throw error;
    await runCreate(name, { backend: options.backend, attach: false }, runner);
    found = await backends.find(name);
  }
  Deno.exitCode = await attachTo(found.backend, found.session, backends);
}

function isNotFound(error: unknown): boolean {
  return error instanceof BackendError && error.kind === "not-found";
}

/**
 * Inside the same tmux or zellij the backend switches the client; every
 * other combination nests, which the user should know about.
 */
async function attachTo(
  backend: Backend,
  session: Session,
  backends: Backends,
): Promise<number> {
  const inside = backends.insideName();
  const switches = inside === backend.name && backend.name !== "screen";
  if (inside !== null && !switches) {
    const keys = inside === "screen" && backend.name === "screen"
      ? "Ctrl-a a d"
      : DETACH_KEYS[backend.name];
    writeErr(
      `sessions: note: opening ${backend.name} session '${session.name}' nested inside your ${inside} session (with default keys, ${keys} detaches the inner one)\n`,
    );
  }
  return await backend.attach(session, switches ? "switch" : "nest");
}

const DETACH_KEYS: Record<BackendName, string> = {
  tmux: "Ctrl-b d",
  screen: "Ctrl-a d",
  zellij: "Ctrl-o d",
};

export async function runDetach(
  name: string | undefined,
  options: GlobalOptions,
  runner: ProcessRunner = systemRunner,
): Promise<void> {
  const backends = new Backends(runner, options.backend);
  if (name === undefined) {
    await backends.forCurrent().detachCurrent();
    return;
  }
  const { session, backend } = await backends.find(name);
  await backend.detachAll(session);
}

export async function runKill(
  name: string,
  options: GlobalOptions,
  runner: ProcessRunner = systemRunner,
): Promise<void> {
  const { session, backend } = await new Backends(runner, options.backend)
    .find(name);
  await backend.kill(session);
}
