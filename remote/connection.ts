/**
 * One SSH connection, shared by `exec` and `connect`: ProxyJump hops, host
 * key verification against known_hosts, the auth chain, keepalive, agent
 * forwarding, and one clear RemoteError per way it can fail.
 *
 * Policy for the server's host key (as OpenSSH):
 * - matches known_hosts: go on;
 * - differs from a known_hosts line: refused, the message names the file
 *   and line; with checking off (StrictHostKeyChecking no) let in with a
 *   warning (`onWarning`), but as OpenSSH without password or
 *   keyboard-interactive authentication and without agent forwarding, so a
 *   man in the middle gets no secret;
 * - marked `@revoked`: refused;
 * - unknown: StrictHostKeyChecking "yes" refuses, "no" and "accept-new"
 *   record and accept ("no" goes on when it cannot record); unset / "ask"
 *   asks the caller (`onUnknownHost`).
 */
import type { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";
import type {
  ClientChannel,
  ConnectConfig,
  ServerHostKeyAlgorithm,
} from "ssh2";
import type { Authenticator, HostAuth } from "./auth.ts";
import { MAX_DURATION_SECONDS } from "./duration.ts";
import { RemoteError } from "./errors.ts";
import {
  blobKeyType,
  fingerprintSha256,
  hostKeyBlobProblem,
  type KnownHostsFiles,
  type KnownHostsStore,
} from "./known-hosts.ts";
import { openSocket } from "./socket.ts";
import { Client } from "./ssh2.ts";
import type { HostSettings } from "./types.ts";

/** Keepalive when ServerAliveInterval is not set: a dead link is noticed within 45 s. */
const DEFAULT_KEEPALIVE_INTERVAL_SECONDS = 15;
/** OpenSSH's ServerAliveCountMax default. */
const DEFAULT_KEEPALIVE_COUNT_MAX = 3;
/** ConnectTimeout when neither config nor flags set one. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** A host key not in known_hosts, for the caller to accept or refuse. */
export interface UnknownHostKey {
  settings: HostSettings;
  /** The name it is looked up and recorded under: `host`, `[host]:port` or the HostKeyAlias. */
  name: string;
  keyType: string;
  /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  key: Uint8Array;
}

export interface ConnectOptions {
  auth: Authenticator;
  /** The run's known_hosts files (each read once); each host uses its own UserKnownHostsFile list. */
  knownHosts: KnownHostsFiles;
  /**
   * Decides an unknown key when StrictHostKeyChecking is unset or "ask";
   * true accepts and records it. Null refuses (no terminal to ask on). The
   * connect timeout does not run while this is pending.
   */
  onUnknownHost: ((key: UnknownHostKey) => Promise<boolean>) | null;
  /** Used when the host's ConnectTimeout is unset (default DEFAULT_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs?: number;
  /** Agent socket for ForwardAgent (SSH_AUTH_SOCK). */
  agentSocket?: string | null;
  /** Told when a host goes on despite its key with checking off (see HostKeyWarning; null: nobody to tell). */
  onWarning?: ((warning: HostKeyWarning) => void) | null;
  /** The run's shared ProxyJump connections; without it a connection opens its own hops. */
  jumps?: JumpHosts | null;
}

/** Said once per connection (and hop) that goes on despite its host key, with checking off. */
export interface HostKeyWarning {
  /**
   * "changed": a changed key let in because checking is off; "not-recorded":
   * checking is off and a first-seen key could not be written to known_hosts.
   */
  kind: "changed" | "not-recorded";
  settings: HostSettings;
  message: string;
  hint?: string;
}

export interface SshConnection {
  client: Client;
  settings: HostSettings;
  /**
   * Resolves when the connection ends: null after `close()`, else the
   * RemoteError (unreachable) saying how it was lost: keepalive timeout,
   * reset, or closed by the server.
   */
  closed: Promise<RemoteError | null>;
  /**
   * Ends the connection, and the ProxyJump hops it opened itself (shared
   * hops end when `JumpHosts` releases their last target).
   */
  close(): void;
}

/** The known_hosts name of a host, as OpenSSH writes it. */
function hostKeyName(settings: HostSettings): string {
  if (settings.hostKeyAlias) return settings.hostKeyAlias;
  return settings.port === 22
    ? settings.hostname
    : `[${settings.hostname}]:${settings.port}`;
}

function storeFor(
  settings: HostSettings,
  knownHosts: KnownHostsFiles,
): KnownHostsStore {
  return knownHosts.store(
    settings.userKnownHostsFiles,
    settings.globalKnownHostsFiles,
  );
}

/** The host key algorithms that can present a key of each known_hosts key type. */
const ALGORITHMS_FOR_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/**
 * As OpenSSH: ask the server first for a key of a type known_hosts already
 * holds for it, so a host known by its RSA key is not met as "unknown"
 * because it also has an ed25519 key.
 */
function preferKnownKeyTypes(
  settings: HostSettings,
  store: KnownHostsStore,
): Partial<ConnectConfig> {
  if (settings.strictHostKeyChecking === "no") return {};
  const preferred = store.knownKeyTypes(hostKeyName(settings))
    .flatMap((type) => ALGORITHMS_FOR_KEY_TYPE[type] ?? []);
  if (preferred.length === 0) return {};
  return {
    algorithms: {
      // Applied in this order by ssh2: take them out, put them first.
      serverHostKey: { remove: preferred, prepend: preferred, append: [] },
    },
  };
}

/**
 * Whether connecting to SETTINGS (or one of its ProxyJump hops) may meet a
 * key to ask the user about: StrictHostKeyChecking unset or "ask", and no
 * known_hosts line for the name at all.
 */
export function mayAskAboutHostKey(
  settings: HostSettings,
  knownHosts: KnownHostsFiles,
): boolean {
  return [...settings.proxyJump, settings].some((host) =>
    (host.strictHostKeyChecking === null ||
      host.strictHostKeyChecking === "ask") &&
    storeFor(host, knownHosts).knownKeyTypes(hostKeyName(host)).length === 0
  );
}

function describeHost(settings: HostSettings): string {
  return settings.port === 22
    ? settings.hostname
    : `${settings.hostname}:${settings.port}`;
}

function changedKeyError(
  settings: HostSettings,
  name: string,
  fingerprint: string,
  check: { file: string; line: number },
): RemoteError {
  return new RemoteError(
    "host-key",
    `HOST KEY CHANGED for ${name}: the server sent ${fingerprint}, ` +
      `which differs from ${check.file}:${check.line}; ` +
      `someone may be intercepting the connection to ${describeHost(settings)}`,
    `if the host's key really changed, remove the old line with ` +
      `'ssh-keygen -R "${name}" -f ${check.file}'`,
    "HOST KEY CHANGED: someone may be intercepting the connections",
  );
}

/**
 * The verdict on a host key, after asking or recording as the policy says.
 * "untrusted": a changed key let in because checking is off; `warning` is
 * for the user, `withheld` ends an auth error when the server then wants a
 * password.
 */
type HostKeyVerdict =
  | { status: "trusted" }
  | { status: "refused"; error: RemoteError }
  | {
    status: "untrusted";
    changed: RemoteError;
    warning: HostKeyWarning;
    withheld: string;
  };

function untrustedKey(
  settings: HostSettings,
  name: string,
  changed: RemoteError,
): HostKeyVerdict {
  return {
    status: "untrusted",
    changed,
    warning: {
      kind: "changed",
      settings,
      message: `${changed.message}; connecting anyway as host key checking ` +
        "is off, but with password and keyboard-interactive authentication " +
        "and agent forwarding disabled to avoid man-in-the-middle attacks",
      hint: changed.hint,
    },
    withheld:
      `password and keyboard-interactive authentication are disabled because the host key of ${name} changed`,
  };
}

const TRUSTED: HostKeyVerdict = { status: "trusted" };

async function judgeHostKey(
  settings: HostSettings,
  key: Uint8Array,
  store: KnownHostsStore,
  options: ConnectOptions,
  pauseTimer: () => void,
): Promise<HostKeyVerdict> {
  const refused = (error: RemoteError): HostKeyVerdict => ({
    status: "refused",
    error,
  });
  const policy = settings.strictHostKeyChecking;
  const name = hostKeyName(settings);
  // Under every policy: a key in any but its one encoding could be a revoked key in disguise.
  const malformed = hostKeyBlobProblem(key);
  if (malformed !== null) {
    return refused(
      new RemoteError(
        "host-key",
        `${name} sent a malformed host key: ${malformed}`,
        undefined,
        "malformed host key",
      ),
    );
  }
  const keyType = blobKeyType(key) ?? "unknown";
  const check = store.check(name, keyType, key);
  // A recorded key goes on under every policy; the fingerprint is only for
  // messages and questions, so the common case does not hash the key.
  if (check.status === "match") return TRUSTED;
  const fingerprint = fingerprintSha256(key);
  // Checking off still refuses a revoked key, as OpenSSH does.
  if (policy === "no" && check.status !== "revoked") {
    if (check.status === "mismatch") {
      return untrustedKey(
        settings,
        name,
        changedKeyError(settings, name, fingerprint, check),
      );
    }
    if (check.status === "unknown") {
      // As OpenSSH: a key met for the first time is recorded (a changed one
      // never is); with checking off a file that cannot take it does not
      // stop the connection, but is reported (not when there is no file:
      // UserKnownHostsFile none).
      await store.add(name, keyType, key).catch((error: RemoteError) => {
        if (store.userFiles.length === 0) return;
        options.onWarning?.({
          kind: "not-recorded",
          settings,
          message:
            `${error.message}; connecting anyway as host key checking is off`,
          hint: error.hint,
        });
      });
    }
    return TRUSTED;
  }
  switch (check.status) {
    case "mismatch":
      return refused(changedKeyError(settings, name, fingerprint, check));
    case "revoked":
      return refused(
        new RemoteError(
          "host-key",
          `host key ${fingerprint} of ${name} is revoked (${check.file}:${check.line})`,
          undefined,
          "revoked host key",
        ),
      );
    case "cert-authority-unsupported":
      return refused(
        new RemoteError(
          "host-key",
          `${name} is covered by an @cert-authority line (${check.file}:${check.line}); ` +
            "sessions does not check host certificates",
          `add the host's own key to known_hosts (ssh-keyscan -p ${settings.port} ${settings.hostname})`,
          "covered by @cert-authority, which sessions does not check",
        ),
      );
  }
  if (policy === "yes") {
    return refused(
      new RemoteError(
        "host-key",
        `unknown host key for ${name} (${keyType} ${fingerprint}) and StrictHostKeyChecking is yes`,
        "add the key to known_hosts first, or use --accept-new",
        "unknown host key and StrictHostKeyChecking is yes",
      ),
    );
  }
  let accept = policy === "accept-new";
  if (!accept) {
    if (!options.onUnknownHost) {
      return refused(
        new RemoteError(
          "host-key",
          `unknown host key for ${name} (${keyType} ${fingerprint})`,
          "check the fingerprint, then run again with --accept-new to record it",
          "unknown host key; check the fingerprints, then run again with --accept-new",
        ),
      );
    }
    pauseTimer();
    accept = await options.onUnknownHost({
      settings,
      name,
      keyType,
      fingerprint,
      key,
    });
    if (!accept) {
      return refused(
        new RemoteError(
          "host-key",
          `host key for ${name} (${keyType} ${fingerprint}) not accepted`,
          undefined,
          "host key not accepted",
        ),
      );
    }
  }
  await store.add(name, keyType, key);
  return TRUSTED;
}

/**
 * Takes ForwardAgent back from a client already configured with it: ssh2
 * fixes `agentForward` at connect() but reads the resulting flag again for
 * every session channel it opens, and none is open while the host key is
 * judged. False when this ssh2 keeps the flag elsewhere: the caller then
 * refuses the host rather than forward the agent to it.
 */
function withdrawAgentForwarding(client: Client): boolean {
  const config = (client as unknown as { config?: { allowAgentFwd?: unknown } })
    .config;
  if (typeof config?.allowAgentFwd !== "boolean") return false;
  config.allowAgentFwd = false;
  return true;
}

interface SocketError extends Error {
  code?: string;
  level?: string;
}

function socketErrorMessage(
  error: SocketError,
  settings: HostSettings,
): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `cannot resolve host name ${settings.hostname}`;
    case "EHOSTUNREACH":
      return "no route to host";
    case "ENETUNREACH":
      return "network unreachable";
    case "ECONNRESET":
    case "EPIPE":
      return "connection reset by the server";
    case "ETIMEDOUT":
      return "connection timed out";
  }
  return error.message.replace(/^connect /, "");
}

/** Turns an ssh2 client error into the RemoteError the user sees. */
function classifyClientError(
  error: SocketError,
  settings: HostSettings,
  auth: HostAuth,
): RemoteError {
  if (error instanceof RemoteError) return error;
  switch (error.level) {
    case "client-authentication":
      return auth.failure();
    case "client-socket":
    case "client-dns":
      return new RemoteError(
        "unreachable",
        socketErrorMessage(error, settings),
      );
    case "client-timeout":
      return new RemoteError(
        "unreachable",
        /keepalive/i.test(error.message)
          ? "connection lost (no answer to keepalive)"
          : "no answer to the SSH handshake",
      );
  }
  if (/too many authentication failures/i.test(error.message)) {
    return new RemoteError(
      "auth",
      "permission denied: too many authentication failures",
      "the server allows few tries (MaxAuthTries): name the right key with --key and IdentitiesOnly yes",
    );
  }
  if (/before handshake/i.test(error.message)) {
    return new RemoteError(
      "unreachable",
      "the server closed the connection before the SSH handshake",
    );
  }
  return new RemoteError("unreachable", `SSH error: ${error.message}`);
}

function keepaliveConfig(settings: HostSettings): Partial<ConnectConfig> {
  const interval = settings.serverAliveInterval > 0
    ? settings.serverAliveInterval
    : DEFAULT_KEEPALIVE_INTERVAL_SECONDS;
  return {
    keepaliveInterval: interval * 1000,
    keepaliveCountMax: settings.serverAliveCountMax > 0
      ? settings.serverAliveCountMax
      : DEFAULT_KEEPALIVE_COUNT_MAX,
  };
}

/**
 * Failures that came while the user was still deciding on the host key,
 * which was then accepted (and recorded): a server dropping a connection
 * not authenticated in time (LoginGraceTime), worth one more try.
 */
const droppedWhileAsked = new WeakSet<RemoteError>();

/** Whether ERROR is a connection dropped while its host key was asked about, then accepted. */
export function isDroppedWhileAsked(error: unknown): boolean {
  return error instanceof RemoteError && droppedWhileAsked.has(error);
}

/** Why a connection ended, when it was refused after the handshake (a host key changed at re-key). */
const rekeyRefusals = new WeakMap<Client, RemoteError>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function connectTimeoutMs(
  settings: HostSettings,
  options: ConnectOptions,
): number {
  if (settings.connectTimeout === null) {
    return options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }
  // ConnectTimeout 0 is "no limit" to OpenSSH: the longest wait a timer holds.
  return (settings.connectTimeout || MAX_DURATION_SECONDS) * 1000;
}

/**
 * One hop: an ssh2 Client over a TCP socket or over a channel of the hop
 * before, opened since `started` (ConnectTimeout covers that too).
 */
function connectOne(
  settings: HostSettings,
  options: ConnectOptions,
  sock: Duplex | null,
  started = performance.now(),
): Promise<Client> {
  const timeoutMs = connectTimeoutMs(settings, options);
  const client = new Client();
  return new Promise((resolve, reject) => {
    let settled = false;
    let refusal: RemoteError | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fail = (error: RemoteError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      reject(error);
    };
    const armTimer = (ms = timeoutMs) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fail(
          new RemoteError(
            "unreachable",
            `no answer within ${formatSeconds(timeoutMs)}`,
          ),
        );
      }, ms);
    };
    const pauseTimer = () => clearTimeout(timer);
    const auth = options.auth.forHost(settings, {
      pause: pauseTimer,
      resume: () => settled || armTimer(),
    });
    client.on("ready", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(client);
    });
    // A server may drop the connection while the user is still deciding on
    // its key (LoginGraceTime): as OpenSSH, the answer is still awaited and
    // acted on (a key accepted is recorded) before the connection fails.
    let judged: Promise<unknown> = Promise.resolve();
    let asking = false;
    const asked: ConnectOptions = {
      ...options,
      onUnknownHost: options.onUnknownHost && (async (key) => {
        asking = true;
        try {
          return await options.onUnknownHost!(key);
        } finally {
          asking = false;
        }
      }),
    };
    const lose = (error: RemoteError) => {
      const whileAsked = asking;
      judged.then(() => {
        if (refusal) return fail(refusal);
        if (whileAsked) droppedWhileAsked.add(error);
        fail(error);
      });
    };
    client.on("error", (error: SocketError) => {
      // Agent trouble and unusable keys are reported by ssh2 and it goes on to the next method.
      if (
        error.level === "agent" || error.level === "client-authentication-sign"
      ) return;
      lose(classifyClientError(error, settings, auth));
    });
    client.on("close", () => {
      lose(
        new RemoteError(
          "unreachable",
          "connection closed during the SSH handshake",
        ),
      );
    });
    const store = storeFor(settings, options.knownHosts);
    const forwardAgent = settings.forwardAgent && !!options.agentSocket;
    let accepted: Uint8Array | null = null;
    armTimer(Math.max(0, timeoutMs - (performance.now() - started)));
    // Ours until client.connect() takes it: a synchronous throw there leaves it connecting.
    const socket = sock ?? openSocket(settings.hostname, settings.port);
    try {
      client.connect({
        host: settings.hostname,
        port: settings.port,
        username: settings.user,
        sock: socket,
        readyTimeout: 0, // our own timer, which pauses while the user decides on a host key
        ...preferKnownKeyTypes(settings, store),
        ...keepaliveConfig(settings),
        authHandler: auth.authHandler,
        ...(forwardAgent
          ? { agent: options.agentSocket!, agentForward: true }
          : {}),
        hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
          const offered = new Uint8Array(key);
          if (accepted) {
            // ssh2 asks again at every re-key. As OpenSSH: the key let in
            // goes on unjudged (no question, no warning again), another key
            // ends the connection.
            const same = sameBytes(accepted, offered);
            if (!same) {
              rekeyRefusals.set(
                client,
                new RemoteError(
                  "host-key",
                  `the host key of ${hostKeyName(settings)} changed during ` +
                    `the connection (re-key): the server sent ${
                      fingerprintSha256(offered)
                    } instead of ${fingerprintSha256(accepted)}`,
                ),
              );
            }
            setTimeout(() => verify(same), 0);
            return;
          }
          judged = judgeHostKey(
            settings,
            offered,
            store,
            asked,
            pauseTimer,
          ).then(
            (verdict) => {
              let error = verdict.status === "refused" ? verdict.error : null;
              if (verdict.status === "untrusted") {
                auth.withholdSecrets({
                  message: verdict.withheld,
                  hint: verdict.warning.hint,
                });
                if (forwardAgent && !withdrawAgentForwarding(client)) {
                  // Refused as with checking on, rather than forward the agent to it.
                  error = verdict.changed;
                } else {
                  options.onWarning?.(verdict.warning);
                }
              }
              refusal = error;
              if (!error) accepted = offered;
              if (!error && !settled) armTimer();
              // ssh2 stalls the handshake when verify() comes back in the same
              // macrotask as the key (StrictHostKeyChecking no): answer on a later one.
              setTimeout(() => verify(error === null), 0);
            },
            (error: Error) => {
              refusal = new RemoteError("host-key", error.message);
              verify(false);
            },
          );
        },
      });
    } catch (error) {
      socket.destroy();
      fail(
        error instanceof RemoteError
          ? error
          : new RemoteError("unreachable", (error as Error).message),
      );
    }
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * A channel through HOP to SETTINGS' address. A jump host that never answers
 * the request (it is stuck, or its own connect hangs) fails it after
 * TIMEOUT_MS, as a TCP connect would.
 */
function forwardTo(
  hop: Client,
  settings: HostSettings,
  timeoutMs: number,
): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(
        new RemoteError(
          "unreachable",
          `the jump host did not reach ${describeHost(settings)} within ${
            formatSeconds(timeoutMs)
          }`,
        ),
      );
    }, timeoutMs);
    hop.forwardOut(
      "127.0.0.1",
      0,
      settings.hostname,
      settings.port,
      (error, channel) => {
        clearTimeout(timer);
        if (late) {
          channel?.close();
        } else if (error) {
          reject(
            new RemoteError(
              "unreachable",
              `the jump host could not reach ${describeHost(settings)}: ${
                error.message.replace(/^\(SSH\) Channel open failure: /, "")
              }`,
            ),
          );
        } else resolve(channel);
      },
    );
  });
}

/**
 * Connects to SETTINGS directly, or through a channel of the hop THROUGH
 * resolves to; its ConnectTimeout covers the tunnel and the handshake.
 */
async function connectVia(
  settings: HostSettings,
  options: ConnectOptions,
  through: Promise<Client> | null,
): Promise<Client> {
  if (!through) return connectOne(settings, options, null);
  const hop = await through;
  const started = performance.now();
  const sock = await forwardTo(
    hop,
    settings,
    connectTimeoutMs(settings, options),
  );
  return connectOne(settings, options, sock, started);
}

/** Asks about one unknown host key; true accepts it. */
type AskUnknownHost = (key: UnknownHostKey) => Promise<boolean>;

/** One shared ProxyJump connection (see JumpHosts). */
class SharedHop {
  readonly client: Promise<Client>;
  /** How each target waiting for this hop asks the user (null: it cannot). */
  readonly #askers: (AskUnknownHost | null)[] = [];
  #question: { key: UnknownHostKey; answers: Promise<boolean>[] } | null = null;

  constructor(open: (hop: SharedHop) => Promise<Client>) {
    this.client = open(this);
    this.client.catch(() => {}); // every waiter gets the rejection
  }

  /** A target now waits for this hop: it is asked whatever the hop asks from now on. */
  join(ask: AskUnknownHost | null): void {
    this.#askers.push(ask);
    this.#question?.answers.push(ask ? ask(this.#question.key) : no());
  }

  /**
   * The hop's own key question, put to every target waiting for it so that
   * each counts as held by it (exec asks each distinct key once); accepted
   * only when all accept.
   */
  async ask(key: UnknownHostKey): Promise<boolean> {
    const question = this.#question = {
      key,
      answers: this.#askers.map((ask) => ask ? ask(key) : no()),
    };
    let accepted = true;
    // Targets joining meanwhile add their answer: wait for those too.
    for (let i = 0; i < question.answers.length; i++) {
      accepted = await question.answers[i] && accepted;
    }
    this.#question = null;
    return accepted;
  }
}

const no = () => Promise.resolve(false);

/** Identifies the connection to the last of HOPS through the ones before it. */
function hopsId(hops: readonly HostSettings[]): string {
  return hops.map((hop) =>
    JSON.stringify({ ...hop, target: undefined, proxyJump: undefined })
  ).join(" -> ");
}

/** The ids of every ProxyJump connection SETTINGS goes through, first hop first. */
function chainIds(settings: HostSettings): string[] {
  return settings.proxyJump.map((_, i) =>
    hopsId(settings.proxyJump.slice(0, i + 1))
  );
}

/**
 * The ProxyJump connections of one run, shared: the targets behind the same
 * hops (same settings, behind the same hops before them) are all tunnelled
 * through one authenticated connection per hop, opened once. One connection
 * per target would reach a bastion as many connections at once, and
 * OpenSSH's default MaxStartups (10:30:100) drops unauthenticated ones above
 * 10. While a shared hop's key is asked about, every target waiting for it is
 * asked the same key. A hop is closed when the last target going through it
 * is released, or by `close()`. A hop that fails stays failed for the run
 * (each later target gets the same error), unless its server dropped it
 * while its key was asked about and then accepted: that one is opened again
 * by the next target to ask for it.
 */
export class JumpHosts {
  readonly #hops = new Map<string, SharedHop>();
  /** Per hop, the targets not yet released that go through it. */
  readonly #claims = new Map<string, number>();

  /** TARGETS: every host the run connects to; each is `release`d once. */
  constructor(targets: readonly HostSettings[]) {
    for (const target of targets) {
      for (const id of chainIds(target)) {
        this.#claims.set(id, (this.#claims.get(id) ?? 0) + 1);
      }
    }
  }

  /** TARGET is done with its hops: the ones no other target needs are closed. */
  release(target: HostSettings): void {
    for (const id of chainIds(target).reverse()) {
      const left = (this.#claims.get(id) ?? 1) - 1;
      if (left > 0) {
        this.#claims.set(id, left);
      } else {
        this.#claims.delete(id);
        this.#drop(id);
      }
    }
  }

  /** Closes every hop. */
  close(): void {
    for (const id of [...this.#hops.keys()].reverse()) this.#drop(id);
  }

  #drop(id: string): void {
    const hop = this.#hops.get(id);
    this.#hops.delete(id);
    hop?.client.then((client) => client.end(), () => {});
  }

  /** The connection to the last of HOPS (opened through the others, or shared). */
  client(
    hops: readonly HostSettings[],
    options: ConnectOptions,
  ): Promise<Client> {
    let hop: SharedHop | undefined;
    // The target waits for every hop of the chain, so it joins each of them.
    for (let i = 0; i < hops.length; i++) {
      const through = hop?.client ?? null;
      const id = hopsId(hops.slice(0, i + 1));
      hop = this.#hops.get(id) ??
        this.#open(id, hops[i], through, options);
      hop.join(options.onUnknownHost);
    }
    return hop!.client;
  }

  #open(
    id: string,
    settings: HostSettings,
    through: Promise<Client> | null,
    options: ConnectOptions,
  ): SharedHop {
    const hop = new SharedHop(async (self) => {
      const client = await connectVia(settings, {
        ...options,
        onUnknownHost: options.onUnknownHost && ((key) => self.ask(key)),
      }, through).catch((error: RemoteError) => {
        const named = new RemoteError(
          error.kind,
          `jump host ${describeHost(settings)}: ${error.message}`,
          error.hint,
        );
        if (droppedWhileAsked.has(error)) droppedWhileAsked.add(named);
        throw named;
      });
      client.on("close", () => this.#forget(id, hop));
      return client;
    });
    hop.client.catch((error) => {
      if (isDroppedWhileAsked(error)) this.#forget(id, hop);
    });
    this.#hops.set(id, hop);
    return hop;
  }

  /** The next target asking for this hop opens it again. */
  #forget(id: string, hop: SharedHop): void {
    if (this.#hops.get(id) === hop) this.#hops.delete(id);
  }
}

/**
 * Connects to SETTINGS (through its ProxyJump hops, shared through
 * `options.jumps` when given), verifies the host key, authenticates. Call
 * `options.auth.load([settings])` first. Rejects with a RemoteError of kind
 * unreachable, auth or host-key.
 */
export async function connect(
  settings: HostSettings,
  options: ConnectOptions,
): Promise<SshConnection> {
  const proxied = [...settings.proxyJump, settings].find((hop) =>
    hop.proxyCommand
  );
  if (proxied) {
    // Connecting directly instead would bypass what the config asks for.
    throw new RemoteError(
      "usage",
      `${describeHost(proxied)} uses ProxyCommand, which sessions does not run`,
      "use ProxyJump instead, or ssh for this host",
    );
  }
  // Without a run's JumpHosts, the hops are this connection's own.
  const own = options.jumps ? null : new JumpHosts([settings]);
  const jumps = options.jumps ?? own!;
  let client: Client;
  try {
    client = await connectVia(
      settings,
      options,
      settings.proxyJump.length > 0
        ? jumps.client(settings.proxyJump, options)
        : null,
    );
  } catch (error) {
    own?.close();
    throw error;
  }
  let closing = false;
  const closed = new Promise<RemoteError | null>((resolve) => {
    let lost: RemoteError | null = null;
    client.on("error", (error: SocketError) => {
      lost ??= new RemoteError(
        "unreachable",
        error.level === "client-timeout"
          ? "connection lost (no answer to keepalive)"
          : `connection lost: ${socketErrorMessage(error, settings)}`,
      );
    });
    client.on("close", () => {
      own?.close();
      // A server closes a healthy connection only after we do (or with an error).
      resolve(
        rekeyRefusals.get(client) ??
          lost ??
          (closing ? null : new RemoteError(
            "unreachable",
            "connection closed by the server",
          )),
      );
    });
  });
  return {
    client,
    settings,
    closed,
    close() {
      closing = true;
      client.end();
      own?.close();
    },
  };
}
