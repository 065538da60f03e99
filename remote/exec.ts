/**
 * The engine behind `sessions exec`: one command on many hosts, one ssh2
 * connection per host inside this process, at most `parallel` at a time.
 * The targets behind the same ProxyJump hosts share one connection to each
 * of them for the whole run (JumpHosts), so a bastion sees one login instead
 * of one per target. Output goes out through callbacks as it arrives (the
 * engine keeps none of it); every host ends in exactly one result.
 *
 * Unknown host keys, when StrictHostKeyChecking is unset and the caller can
 * ask (`confirmUnknownHosts`), are settled before anything runs: phase 1
 * connects the hosts that have no known_hosts line at all (for themselves
 * or a ProxyJump hop) and collects their keys, phase 2 asks the caller once
 * for all of them, phase 3 runs the command everywhere, reusing the
 * connections phase 1 opened. A target behind a jump host shows its key only
 * once the jump host's key is accepted, so phase 2 repeats: after each answer
 * the accepted hosts go on connecting, and the keys they meet next are asked
 * about together in the next round, until no new key comes. (A host with
 * known_hosts lines but none for a key type it offers is refused in phase 3
 * like any unknown key without a terminal.) When no host lacks a line, or
 * without a way to ask, every host connects and runs at once.
 *
 * A timed-out command is stopped without a PTY and without wrapping the
 * user's command: sshd starts each command as a session leader, a child of
 * the sshd process serving the connection, so a second channel on the same
 * connection signals the process groups of its sibling processes (TERM, then
 * KILL). The RFC 4254 "signal" request is sent too, but OpenSSH honours it
 * only for non-root logins. When neither works (the server refuses the
 * second channel) the result says the command may still be running.
 */
import { Buffer } from "node:buffer";
import type { ClientChannel } from "ssh2";
import type { Authenticator } from "./auth.ts";
import {
  connect,
  type ConnectOptions,
  type HostKeyWarning,
  isDroppedWhileAsked,
  JumpHosts,
  mayAskAboutHostKey,
  type SshConnection,
  type UnknownHostKey,
} from "./connection.ts";
import { RemoteError, type RemoteErrorKind } from "./errors.ts";
import { skipAutoDestroy } from "./ssh2.ts";
import type { KnownHostsFiles } from "./known-hosts.ts";
import type { HostSettings } from "./types.ts";

export type OutputStream = "stdout" | "stderr";

export interface ExecOptions {
  /** Hosts at once; 1 runs them one after another in target order. */
  parallel: number;
  /** Limit for the command on each host (connecting not included); null for none. */
  timeoutMs: number | null;
  /** For hosts whose ConnectTimeout is unset. */
  connectTimeoutMs: number;
  /** Sent to every host's command, then end of input; null sends end of input at once. */
  stdin: Uint8Array | null;
  /**
   * When it fires, commands still running are stopped as on a timeout and
   * hosts not yet running are not started; each ends as "interrupted".
   */
  interrupt?: AbortSignal;
}

export interface ExecContext {
  /** Call `auth.load(hosts)` first (asks passphrases once per run). */
  auth: Authenticator;
  /** The run's known_hosts files, read once. */
  knownHosts: KnownHostsFiles;
  /**
   * Asks the user once about every unknown host key met so far (hosts whose
   * StrictHostKeyChecking is unset or "ask"), each distinct key once, in
   * target order; returns one answer per key, true to accept and record it.
   * Called again only for keys met after the previous answer (targets
   * behind a jump host just accepted). Null refuses them (no terminal).
   */
  confirmUnknownHosts: ((keys: UnknownHostKey[]) => Promise<boolean[]>) | null;
  /** For ForwardAgent. */
  agentSocket?: string | null;
  /** A host let in despite its key because checking is off (HostKeyWarning); each message once per run. */
  onWarning?: ((warning: HostKeyWarning) => void) | null;
}

export interface ExecCallbacks {
  onOutput(hostIndex: number, stream: OutputStream, chunk: Uint8Array): void;
  onResult(result: ExecResult): void;
}

export interface ExecResult {
  /** Position in the hosts array. */
  index: number;
  label: string;
  host: string;
  user: string;
  port: number;
  /** Null when the command did not exit by itself (error, signal). */
  exitCode: number | null;
  /** Signal name without `SIG` (`KILL`) when the command was killed by one. */
  signal: string | null;
  /** Connecting plus running (time spent waiting for the user's answer excluded). */
  durationMs: number;
  error:
    | { kind: RemoteErrorKind; message: string; hint?: string; brief?: string }
    | null;
}

/** How long a timed-out command gets between TERM and KILL, and KILL and giving up. */
const STOP_GRACE_MS = 2_000;

/**
 * Signals every process group of this connection's commands, from a second
 * channel on the same connection. Two passes:
 * - the children of our own parent (the sshd process serving the
 *   connection) that lead their own process group: every command sshd
 *   started for the connection (POSIX `ps`);
 * - on Linux, also the process groups of processes whose environment holds
 *   our SSH_CONNECTION and that are no older than the sshd process serving
 *   this connection, which finds background jobs whose shell already
 *   exited. SSH_CONNECTION alone is unique only among live connections: a
 *   long-lived process (a tmux server) started by an earlier connection
 *   from the same address and port carries it too, but started before ours.
 * Our own session ($$ leads it) is skipped. Nothing is done unless the
 * parent is still an sshd: if the connection died first, the parent is init
 * or a subreaper, whose children must never be touched.
 * Fixed text (no user input); no `'`, `\` or `!`, so any login shell (sh,
 * bash, zsh, fish, csh) passes it to sh unchanged.
 */
function stopCommand(signal: "TERM" | "KILL"): string {
  return `exec sh -c 'p=$PPID; [ "$p" -gt 1 ] || exit 1; ` +
    `case $(ps -o comm= -p "$p") in *sshd*) ;; *) exit 1 ;; esac; ` +
    `age=$(ps -o etimes= -p "$p"); ` +
    `ps -A -o pid= -o ppid= -o pgid= | while read pid parent group; do ` +
    `[ "$parent" = "$p" ] && [ "$pid" = "$group" ] && [ "$pid" != "$$" ] && ` +
    `kill -${signal} -"$pid" 2>/dev/null; done; ` +
    `[ -n "$SSH_CONNECTION" ] && [ -d /proc/self ] || exit 0; ` +
    `for f in $(grep -lzxF "SSH_CONNECTION=$SSH_CONNECTION" /proc/[0-9]*/environ 2>/dev/null); do ` +
    `pid=\${f#/proc/}; set -- $(ps -o sid= -o pgid= -o etimes= -p "\${pid%/environ}"); ` +
    `[ -n "$3" ] && [ "$1" != "$$" ] && [ "$3" -le "$age" ] && kill -${signal} -"$2" 2>/dev/null; done; true'`;
}

function errorOf(error: unknown): RemoteError {
  return error instanceof RemoteError
    ? error
    : new RemoteError("unreachable", (error as Error).message);
}

/** Runs at most `limit` of `task(i)` at once, for i in 0..count-1, in order. */
async function fanOut(
  count: number,
  limit: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker),
  );
}

function cannotStart(error: Error): RemoteError {
  return new RemoteError(
    "unreachable",
    `cannot start the command: ${error.message}`,
  );
}

/** Runs the stop command on a new channel of the same connection. */
function signalCommand(
  connection: SshConnection,
  signal: "TERM" | "KILL",
): void {
  connection.client.exec(stopCommand(signal), (error, channel) => {
    // On error the connection is gone or refuses channels: closing it is all that is left.
    if (error) return;
    channel.resume();
    channel.stderr.resume();
    channel.end();
  });
}

interface CommandOutcome {
  exitCode: number | null;
  signal: string | null;
  error: RemoteError | null;
}

/**
 * Runs COMMAND on an open connection until it exits, times out or the link
 * is lost. While it runs, its way to stop on an interrupt is in RUNNING.
 */
function runCommand(
  index: number,
  connection: SshConnection,
  command: string,
  options: ExecOptions,
  callbacks: ExecCallbacks,
  running: Set<() => void>,
): Promise<CommandOutcome> {
  // Listeners go on inside exec's callback: a quick command's output, exit
  // status and close can arrive in the same packet batch as the channel.
  return new Promise<CommandOutcome>((resolve, reject) => {
    connection.client.exec(command, (error, channel) => {
      if (error) reject(cannotStart(error));
      else watch(channel, resolve);
    });
  });

  function watch(
    channel: ClientChannel,
    resolve: (outcome: CommandOutcome) => void,
  ): void {
    skipAutoDestroy(channel);
    let exitCode: number | null = null;
    let signal: string | null = null;
    let exited = false;
    let stoppedFor: "timeout" | "interrupted" | null = null;
    let droppedToStop = false;
    const timers: ReturnType<typeof setTimeout>[] = [];

    channel.on(
      "data",
      (chunk: Uint8Array) => callbacks.onOutput(index, "stdout", chunk),
    );
    channel.stderr.on(
      "data",
      (chunk: Uint8Array) => callbacks.onOutput(index, "stderr", chunk),
    );
    // As OpenSSH's client: once the command has exited and its output has
    // ended, close our side. sshd closes first anyway (then this does
    // nothing), but a server may wait for the client's close.
    let outputEnded = false;
    const closeWhenDone = () => {
      if (exited && outputEnded) channel.close();
    };
    channel.on("end", () => {
      outputEnded = true;
      closeWhenDone();
    });
    channel.on("exit", (code: number | null, signalName?: string) => {
      exited = true;
      exitCode = typeof code === "number" ? code : null;
      signal = signalName ? signalName.replace(/^SIG/, "") : null;
      closeWhenDone();
    });
    channel.on("close", () => {
      for (const timer of timers) clearTimeout(timer);
      let error: RemoteError | null = null;
      if (stoppedFor !== null) {
        const after = stoppedFor === "timeout"
          ? `still running after ${formatDuration(options.timeoutMs!)}; `
          : "";
        // Stopped when the server closed the channel itself (the command and
        // whatever held its output ended); a channel that closed only because
        // the connection was dropped proves nothing: without a PTY sshd
        // leaves the command running.
        error = !droppedToStop
          ? new RemoteError(stoppedFor, `${after}stopped`)
          : new RemoteError(
            stoppedFor,
            `${after}could not stop it, so it may still be running`,
            "the server refused the stop request (MaxSessions, ForceCommand, or no ps/kill there)",
          );
      } else if (!exited) {
        error = new RemoteError(
          "unreachable",
          "connection lost while the command ran",
        );
      }
      resolve({ exitCode, signal, error });
    });
    channel.on("error", () => {}); // reported through close

    if (options.stdin && options.stdin.length > 0) {
      channel.end(
        Buffer.from(
          options.stdin.buffer,
          options.stdin.byteOffset,
          options.stdin.byteLength,
        ),
      );
    } else {
      channel.end();
    }

    const send = (signalName: "TERM" | "KILL") => {
      // RFC 4254's own request, on the command's channel (OpenSSH honours
      // it for logins other than root), and the stop command on another.
      channel.signal(signalName);
      signalCommand(connection, signalName);
    };
    const stop = (reason: "timeout" | "interrupted") => {
      if (stoppedFor !== null) return;
      stoppedFor = reason;
      send("TERM");
      timers.push(setTimeout(() => {
        send("KILL");
        timers.push(setTimeout(() => {
          droppedToStop = true;
          connection.close();
        }, STOP_GRACE_MS));
      }, STOP_GRACE_MS));
    };
    if (options.timeoutMs !== null) {
      timers.push(setTimeout(() => stop("timeout"), options.timeoutMs));
    }
    const onInterrupt = () => stop("interrupted");
    if (options.interrupt?.aborted) onInterrupt();
    else {
      running.add(onInterrupt);
      channel.on("close", () => running.delete(onInterrupt));
    }
  }
}

function formatDuration(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0
    ? `${ms / 60_000}m`
    : `${ms / 1000}s`;
}

/** A host's connection as phase 1 leaves it. */
type Connected =
  | { status: "connected"; connection: SshConnection; connectMs: number }
  | { status: "failed"; error: RemoteError; connectMs: number };

/**
 * Connects one host; `waitedMs` is time spent on the user's answer, not
 * counted, since `started`.
 */
async function connectHost(
  settings: HostSettings,
  options: ConnectOptions,
  waitedMs: () => number = () => 0,
  started: number = performance.now(),
): Promise<Connected> {
  const elapsed = () => performance.now() - started - waitedMs();
  try {
    const connection = await connect(settings, options);
    return { status: "connected", connection, connectMs: elapsed() };
  } catch (error) {
    return { status: "failed", error: errorOf(error), connectMs: elapsed() };
  }
}

/**
 * Runs COMMAND on every host; returns the results in host order (each is
 * also passed to `onResult` as soon as that host is done).
 */
export async function execOnHosts(
  hosts: readonly HostSettings[],
  command: string,
  options: ExecOptions,
  context: ExecContext,
  callbacks: ExecCallbacks,
): Promise<ExecResult[]> {
  const jumps = new JumpHosts(hosts);
  try {
    return await execWith(jumps, hosts, command, options, context, callbacks);
  } finally {
    jumps.close();
  }
}

/** execOnHosts with the run's shared ProxyJump connections. */
async function execWith(
  jumps: JumpHosts,
  hosts: readonly HostSettings[],
  command: string,
  options: ExecOptions,
  context: ExecContext,
  callbacks: ExecCallbacks,
): Promise<ExecResult[]> {
  const results: ExecResult[] = new Array(hosts.length);
  const report = (
    index: number,
    durationMs: number,
    outcome: CommandOutcome,
  ) => {
    const settings = hosts[index];
    const error = outcome.error;
    const result: ExecResult = {
      index,
      label: settings.target.label,
      host: settings.hostname,
      user: settings.user,
      port: settings.port,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      durationMs: Math.round(durationMs),
      error: error
        ? {
          kind: error.kind,
          message: error.message,
          ...(error.hint ? { hint: error.hint } : {}),
          ...(error.brief ? { brief: error.brief } : {}),
        }
        : null,
    };
    results[index] = result;
    jumps.release(settings);
    callbacks.onResult(result);
  };
  const failed = (error: RemoteError): CommandOutcome => ({
    exitCode: null,
    signal: null,
    error,
  });
  const interrupted = () => options.interrupt?.aborted === true;
  // One listener for the run, not one per host: the commands running when it fires stop.
  const running = new Set<() => void>();
  options.interrupt?.addEventListener("abort", () => {
    for (const stop of running) stop();
  }, { once: true });
  const run = async (
    index: number,
    connection: SshConnection,
    connectMs: number,
  ) => {
    const started = performance.now();
    let outcome: CommandOutcome;
    try {
      outcome = await runCommand(
        index,
        connection,
        command,
        options,
        callbacks,
        running,
      );
    } catch (error) {
      outcome = failed(errorOf(error));
    } finally {
      connection.close();
    }
    report(index, connectMs + performance.now() - started, outcome);
  };
  const notStarted = () =>
    failed(
      new RemoteError("interrupted", "not started"),
    );
  const settle = async (index: number, host: Connected) => {
    if (host.status === "failed") {
      report(index, host.connectMs, failed(host.error));
    } else if (interrupted()) {
      host.connection.close();
      report(index, host.connectMs, notStarted());
    } else {
      await run(index, host.connection, host.connectMs);
    }
  };
  // Many targets can share a jump host, and a host can be connected twice.
  const warned = new Set<string>();
  const onWarning = (warning: HostKeyWarning) => {
    if (warned.has(warning.message)) return;
    warned.add(warning.message);
    context.onWarning?.(warning);
  };
  const connectOptions = (
    onUnknownHost: ConnectOptions["onUnknownHost"],
  ): ConnectOptions => ({
    auth: context.auth,
    knownHosts: context.knownHosts,
    onUnknownHost,
    connectTimeoutMs: options.connectTimeoutMs,
    agentSocket: context.agentSocket,
    onWarning,
    jumps,
  });

  // Only hosts with no known_hosts line at all can need a question; when
  // there are none, every host connects and runs at once.
  const direct = connectOptions(null);
  const confirm = context.confirmUnknownHosts;
  const asking = confirm === null
    ? []
    : hosts.flatMap((host, index) =>
      mayAskAboutHostKey(host, context.knownHosts) ? [index] : []
    );
  const held = asking.length === 0
    ? new Map<number, Connected>()
    : await connectAll(
      hosts,
      asking,
      options.parallel,
      connectOptions,
      confirm!,
    );
  await fanOut(hosts.length, options.parallel, async (index) => {
    const connected = held.get(index);
    if (connected === undefined && interrupted()) {
      report(index, 0, notStarted());
      return;
    }
    await settle(index, connected ?? await connectHost(hosts[index], direct));
  });
  return results;
}

/** A host stopped at an unknown key until the user answers. */
interface Held {
  index: number;
  key: UnknownHostKey;
  answer(accept: boolean): void;
}

/**
 * Phases 1 and 2: connects the hosts at INDICES, holds the ones whose key
 * is unknown at the host-key step, and once every host is held or done asks
 * about all held keys at once; the accepted hosts go on, and whatever they
 * meet next (the target behind a jump host) is asked about in the next
 * round. At most `parallel` hosts are connecting and not held at a time; a
 * held host leaves its place to the next, so every host can end up held
 * (one connection each, or one shared by the targets behind a jump host,
 * which are all held by its question), and once answered they all go on at
 * once.
 */
async function connectAll(
  hosts: readonly HostSettings[],
  indices: readonly number[],
  parallel: number,
  connectOptions: (
    onUnknownHost: ConnectOptions["onUnknownHost"],
  ) => ConnectOptions,
  confirm: (keys: UnknownHostKey[]) => Promise<boolean[]>,
): Promise<Map<number, Connected>> {
  let held: Held[] = [];
  let aborted = false;
  // Hosts neither held nor done; a round is asked when none is left.
  let busy = 0;
  let wake: (() => void) | null = null;
  const idle = () => {
    if (--busy === 0) wake?.();
  };
  const quiet = () =>
    busy === 0 ? Promise.resolve() : new Promise<void>((resolve) => {
      wake = resolve;
    });

  /** Connects host INDEX; `slotFree` once it is held or done. */
  const connectAsking = async (
    index: number,
    slotFree: () => void,
  ): Promise<Connected> => {
    const started = performance.now();
    let waited = 0;
    const onUnknownHost = (key: UnknownHostKey) => {
      if (aborted) return Promise.resolve(false);
      const askedAt = performance.now();
      slotFree(); // a held host must not keep others from connecting
      return new Promise<boolean>((resolve) => {
        held.push({
          index,
          key,
          answer: (accept) => {
            waited += performance.now() - askedAt;
            busy++;
            resolve(accept);
          },
        });
        idle();
      });
    };
    busy++;
    try {
      // A host held while the user read the question may have been
      // dropped by its server (LoginGraceTime): its key is recorded now, so
      // it is not asked again: a chain of N names needs at most N such
      // tries and a last one.
      for (let tries = hosts[index].proxyJump.length + 2;; tries--) {
        const host = await connectHost(
          hosts[index],
          connectOptions(onUnknownHost),
          () => waited,
          started,
        );
        const dropped = host.status === "failed" &&
          isDroppedWhileAsked(host.error);
        if (!(dropped && tries > 1)) return host;
      }
    } finally {
      slotFree();
      idle();
    }
  };

  const finals = new Map<number, Promise<Connected>>();
  await fanOut(
    indices.length,
    parallel,
    (position) =>
      new Promise<void>((slotFree) => {
        const index = indices[position];
        finals.set(index, connectAsking(index, slotFree));
      }),
  );
  for (await quiet(); held.length > 0; await quiet()) {
    // Ask in target order, whatever order the keys arrived in, each key
    // once (targets sharing a jump host meet the same key).
    const round = held.sort((a, b) => a.index - b.index);
    held = [];
    const asked = new Map<string, number>();
    const keys: UnknownHostKey[] = [];
    const position = round.map(({ key }) => {
      const id = `${key.name} ${key.fingerprint}`;
      if (!asked.has(id)) {
        asked.set(id, keys.length);
        keys.push(key);
      }
      return asked.get(id)!;
    });
    let answers: boolean[];
    try {
      answers = await confirm(keys);
    } catch (error) {
      // No run after all (the user interrupted the question): close what is open.
      aborted = true;
      round.forEach((entry) => entry.answer(false));
      for (const host of await Promise.all(finals.values())) {
        if (host.status === "connected") host.connection.close();
      }
      throw error;
    }
    round.forEach((entry, i) => entry.answer(answers[position[i]] === true));
  }
  const connected = new Map<number, Connected>();
  for (const [index, final] of finals) connected.set(index, await final);
  return connected;
}
