/**
 * `connect`: one interactive PTY channel on a host, optionally inside a
 * multiplexer session on that host. The connection itself (host resolution,
 * auth, known_hosts, keepalive) is remote/connection.ts, shared with exec.
 * This module never prints: bytes go to the terminal it is given, failures
 * are RemoteErrors.
 */
import { constants as osConstants } from "node:os";
import type { Client, ClientChannel } from "ssh2";
import type { BackendName } from "../backends/types.ts";
import { screenNameProblem } from "../backends/screen.ts";
import { tmuxNameProblem } from "../backends/tmux.ts";
import { zellijNameProblem, zellijSocketDir } from "../backends/zellij.ts";
import { RemoteError } from "./errors.ts";

/**
 * WORD as one POSIX shell word: single-quoted, with each `'` written as
 * `'\''`. Safe for any content, newlines and control characters included.
 */
export function posixQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The multiplexers a remote session can use, in the order they are tried. */
export const REMOTE_BACKENDS: readonly BackendName[] = [
  "tmux",
  "screen",
  "zellij",
];

/**
 * A command for the remote user's shell that prints the first of CANDIDATES
 * installed there. Wrapped in `sh -c` so it also works when the login shell
 * is not POSIX (fish, csh); the candidates are fixed names, never user input.
 */
export function probeCommand(candidates: readonly BackendName[]): string {
  return `sh -c ${
    posixQuote(
      candidates.map((name) =>
        `command -v ${name} >/dev/null 2>&1 && { echo ${name}; exit 0; }`
      ).join("; ") + "; exit 1",
    )
  }`;
}

/** The backend the probe printed, or null when the host has none. */
export function parseProbeOutput(stdout: string): BackendName | null {
  const first = stdout.trim().split("\n")[0]?.trim();
  return REMOTE_BACKENDS.find((name) => name === first) ?? null;
}

/**
 * screen matches `-r NAME` by unique prefix (`work` would take `work2`), so
 * this finds the exact `PID.NAME` in `screen -ls` first. NAME arrives as
 * `$1`, never as part of the script.
 */
const SCREEN_ATTACH_SCRIPT = [
  'id=$(screen -ls | while IFS= read -r line; do s=${line#"\t"}; s=${s%%"\t"*}',
  'case ${s%%.*} in ""|*[!0-9]*) continue;; esac',
  'if [ "${s#*.}" = "$1" ]; then echo "$s"; break; fi; done)',
  // -D: take the session over from a stale client of a dropped link.
  'if [ -n "$id" ]; then exec screen -D -r "$id"; else exec screen -S "$1"; fi',
].join("; "); // one line: csh rejects a newline inside quotes

/**
 * Why NAME cannot be a session of BACKEND on a host, or null: the same
 * rules as the local backends, socket paths checked against the usual
 * directories there (screen's for USER, zellij's under /tmp for a 5-digit uid).
 */
export function remoteSessionNameProblem(
  backend: BackendName,
  name: string,
  user: string,
): string | null {
  // fish, a possible login shell there, reads `\'` inside single quotes as
  // an escaped quote: posixQuote is safe only for names without `\`.
  if (name.includes("\\")) return "a remote session name cannot contain '\\'";
  switch (backend) {
    case "tmux":
      return tmuxNameProblem(name);
    case "screen":
      return screenNameProblem(name, `/run/screen/S-${user}`);
    case "zellij":
      return zellijNameProblem(name, zellijSocketDir(() => undefined, 65534));
  }
}

/**
 * The remote command that attaches to session NAME of BACKEND, creating it
 * when missing. NAME is quoted, never interpreted by the remote shell.
 */
export function remoteSessionCommand(
  backend: BackendName,
  name: string,
): string {
  const quoted = posixQuote(name);
  switch (backend) {
    case "tmux":
      // -A: attach when NAME exists (exact match), else create it.
      return `tmux new-session -A -s ${quoted}`;
    case "screen":
      return `sh -c ${posixQuote(SCREEN_ATTACH_SCRIPT)} sh ${quoted}`;
    case "zellij":
      // `--`: a name like `options` or `-h` is not a subcommand or a flag.
      return `zellij attach --create -- ${quoted}`;
  }
}

/** The terminal the remote PTY is wired to: raw bytes in and out, its size and resizes. */
export interface PtyTerminal {
  /** TERM to request for the remote PTY. */
  readonly term: string;
  size(): TerminalSize;
  /** Calls LISTENER on every size change; returns the unsubscribe function. */
  onResize(listener: (size: TerminalSize) => void): () => void;
  /** The next bytes typed, or null at end of input. */
  read(): Promise<Uint8Array | null>;
  write(bytes: Uint8Array): void;
}

export interface TerminalSize {
  rows: number;
  cols: number;
}

export interface InteractiveRequest {
  /** The host as the user named it, for messages. */
  hostLabel: string;
  /** The user logged in as (screen's socket directory depends on it). */
  user: string;
  /** Run this instead of a login shell (still with a PTY). */
  command: string | null;
  /** Attach to (or create) this multiplexer session on the host. */
  session: { name: string; backend: BackendName | null } | null;
}

/** The host has none of tmux, screen, zellij (or not the one asked for). */
export class MissingMultiplexerError extends RemoteError {
  constructor(host: string, backend: BackendName | null) {
    super(
      "usage",
      backend
        ? `${backend} is not installed on ${host}`
        : `${host} has none of ${REMOTE_BACKENDS.join(", ")}`,
      backend
        ? "pick another with --backend, or run 'sessions connect HOST' without --session"
        : "run 'sessions connect HOST' without --session",
    );
    this.name = "MissingMultiplexerError";
  }
}

/**
 * A server that answers but will not open a session channel or a terminal
 * (MaxSessions, PermitTTY no, a forced command): connect's one line and 255.
 */
function refusedError(
  hostLabel: string,
  what: string,
  cause: Error,
): RemoteError {
  return new RemoteError(
    "unreachable",
    `${hostLabel} refused ${what}: ${cause.message}`,
    "the server's sshd_config limits it (PermitTTY, MaxSessions, ForceCommand)",
  );
}

/** Runs COMMAND without a PTY and resolves to what it printed on stdout. */
function execStdout(
  client: Client,
  command: string,
  hostLabel: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) {
        reject(refusedError(hostLabel, "a session", error));
        return;
      }
      const decoder = new TextDecoder();
      let stdout = "";
      channel.on(
        "data",
        (chunk: Uint8Array) =>
          stdout += decoder.decode(chunk, { stream: true }),
      );
      channel.stderr.resume();
      channel.on("close", () => resolve(stdout + decoder.decode()));
    });
  });
}

/**
 * Which multiplexer to use on the host: the one asked for, or the first
 * installed there. Throws MissingMultiplexerError when there is none.
 */
export async function pickRemoteBackend(
  client: Client,
  hostLabel: string,
  wanted: BackendName | null,
): Promise<BackendName> {
  const found = parseProbeOutput(
    await execStdout(
      client,
      probeCommand(wanted ? [wanted] : REMOTE_BACKENDS),
      hostLabel,
    ),
  );
  if (!found) throw new MissingMultiplexerError(hostLabel, wanted);
  return found;
}

/**
 * Opens the PTY channel and wires its output to TERMINAL. `ended` resolves
 * to the remote exit status; it rejects when the channel closes without one
 * (the far side went away rather than the program ending). The listeners
 * are attached in ssh2's callback: a quick program's exit status can arrive
 * in the same packet batch as the channel's confirmation.
 */
function openPty(
  client: Client,
  command: string | null,
  terminal: PtyTerminal,
  hostLabel: string,
): Promise<{ channel: ClientChannel; ended: Promise<number> }> {
  const pty = { term: terminal.term, ...terminal.size() };
  return new Promise((resolve, reject) => {
    const done = (error: Error | undefined, channel: ClientChannel) => {
      if (error) {
        reject(refusedError(hostLabel, "a terminal", error));
        return;
      }
      const ended = new Promise<number>((resolveEnd, rejectEnd) => {
        let exitStatus: number | null = null;
        channel.on("data", (bytes: Uint8Array) => terminal.write(bytes));
        channel.stderr.on("data", (bytes: Uint8Array) => terminal.write(bytes));
        channel.on(
          "exit",
          (code: number | null, signal?: string) =>
            exitStatus = code ?? signalExitStatus(signal ?? ""),
        );
        channel.on(
          "close",
          () =>
            exitStatus === null
              ? rejectEnd(lostError(hostLabel))
              : resolveEnd(exitStatus),
        );
      });
      ended.catch(() => {}); // awaited by the caller
      resolve({ channel, ended });
    };
    if (command === null) client.shell(pty, done);
    else client.exec(command, { pty }, done);
  });
}

function lostError(hostLabel: string, cause?: Error): RemoteError {
  return new RemoteError(
    "unreachable",
    `connection to ${hostLabel} lost`,
    cause?.message,
  );
}

/** Our exit status for a remote program killed by SIGNAL (`SIGTERM` or `TERM`, …): 128 + its number, as shells report it. */
export function signalExitStatus(signal: string): number {
  const number = (osConstants.signals as Record<string, number | undefined>)[
    signal.startsWith("SIG") ? signal : `SIG${signal}`
  ];
  return 128 + (number ?? 0);
}

/**
 * Wires TERMINAL to a PTY channel on CLIENT (already connected and
 * authenticated) until the remote program ends, and resolves to its exit
 * status. A connection that drops first is RemoteError("unreachable").
 */
export async function runInteractive(
  client: Client,
  request: InteractiveRequest,
  terminal: PtyTerminal,
): Promise<number> {
  const lost = new Promise<never>((_, reject) => {
    const fail = (error?: Error) => reject(lostError(request.hostLabel, error));
    client.once("close", () => fail());
    client.once("error", fail);
  });
  lost.catch(() => {}); // awaited below; a drop before then must not count as unhandled
  let command = request.command;
  if (request.session) {
    const backend = await Promise.race([
      pickRemoteBackend(client, request.hostLabel, request.session.backend),
      lost,
    ]);
    const reason = remoteSessionNameProblem(
      backend,
      request.session.name,
      request.user,
    );
    if (reason) {
      throw new RemoteError(
        "usage",
        `bad session name '${request.session.name}' for ${backend}: ${reason}`,
      );
    }
    command = remoteSessionCommand(backend, request.session.name);
  }
  const { channel, ended } = await Promise.race([
    openPty(client, command, terminal, request.hostLabel),
    lost,
  ]);

  const stopResize = terminal.onResize(({ rows, cols }) =>
    channel.setWindow(rows, cols, 0, 0)
  );
  let reading = true;
  const pumpInput = (async () => {
    while (reading) {
      const bytes = await terminal.read();
      if (bytes === null) {
        channel.end();
        return;
      }
      if (reading) channel.write(bytes);
    }
  })();
  try {
    return await Promise.race([ended, lost]);
  } finally {
    reading = false;
    stopResize();
    void pumpInput.catch(() => {});
  }
}
