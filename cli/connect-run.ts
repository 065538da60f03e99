/**
 * `sessions connect`, loaded only when it runs: resolves the host like exec
 * does, opens the terminal guard, connects (prompts on this terminal), then
 * hands the terminal to the remote PTY. Failures become one line and 255.
 */
import type { BackendName } from "../backends/types.ts";
import { RemoteError } from "../remote/errors.ts";
import { Authenticator } from "../remote/auth.ts";
import {
  MissingMultiplexerError,
  remoteSessionNameProblem,
  runInteractive,
} from "../remote/connect.ts";
import {
  connect,
  type SshConnection,
  type UnknownHostKey,
} from "../remote/connection.ts";
import { KnownHostsFiles } from "../remote/known-hosts.ts";
import { loadSshConfig } from "../remote/ssh-config.ts";
import { loadSessionsConfig } from "../remote/settings.ts";
import { parseTargetList, type TargetGroups } from "../remote/targets.ts";
import type { HostSettings, Target } from "../remote/types.ts";
import { CliError, usageError } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";
import { formatError, writeErr } from "./output.ts";
import { Terminal } from "./terminal.ts";

export interface ConnectRequest {
  host: string;
  user?: string;
  key?: string;
  port?: number;
  configFile?: string;
  session: { name: string; backend: BackendName | null } | null;
  command: string | null;
  forwardAgent: boolean;
  acceptNew: boolean;
}

/** The hint of every refusal of HOST itself. */
const HOST_HINT = "try 'sessions connect [USER@]HOST[:PORT]'";

/** HOST must name exactly one target (no ranges, groups or lists). */
export function singleTarget(host: string, groups?: TargetGroups): Target {
  const trimmed = host.trim();
  if (trimmed === "") throw usageError("the host is empty", HOST_HINT);
  // Checked here, not left to the target list parser, whose hint is about separating targets.
  if (/\s/.test(trimmed)) {
    throw usageError(`bad host '${host}': it contains a space`, HOST_HINT);
  }
  const targets = parseTargetList(host, groups);
  if (targets.length === 0) {
    throw usageError(`'${host}' names no host`, HOST_HINT);
  }
  if (targets.length > 1) {
    throw usageError(
      `connect takes one host, and '${host}' names ${targets.length} hosts`,
      "for many hosts use 'sessions exec --targets LIST CMD'",
    );
  }
  return targets[0];
}

/** How connect words and codes a failure: usage 2, no multiplexer 5, everything else 255 as ssh does. */
export function connectFailure(error: unknown): unknown {
  if (error instanceof MissingMultiplexerError) {
    return new CliError(error.message, ExitCode.UNAVAILABLE, error.hint);
  }
  if (error instanceof RemoteError) {
    return new CliError(
      error.message,
      error.kind === "usage" ? ExitCode.USAGE : ExitCode.CONNECTION_LOST,
      error.hint,
    );
  }
  return error;
}

/** `ssh-ed25519` → `ED25519`, as OpenSSH names key types in its prompt. */
export function keyTypeLabel(keyType: string): string {
  const match = /^(?:ssh-)?([a-z0-9]+)/i.exec(keyType);
  const base = match ? match[1].toUpperCase() : keyType;
  return base.startsWith("ECDSA") ? "ECDSA" : base;
}

/** The question OpenSSH asks about an unknown host key. */
export function unknownHostQuestion(
  hostLabel: string,
  key: UnknownHostKey,
): string {
  return `The authenticity of host '${hostLabel} (${key.name})' can't be established.\n` +
    `${keyTypeLabel(key.keyType)} key fingerprint is ${key.fingerprint}.\n` +
    "Are you sure you want to continue connecting (yes/no)? ";
}

/** Yes or no, asked until the answer is one of them; null when the user gives up. */
async function askYesNo(
  terminal: Terminal,
  question: string,
): Promise<boolean> {
  let answer = (await terminal.ask(question)).trim().toLowerCase();
  while (answer !== "yes" && answer !== "no") {
    answer = (await terminal.ask("Please type 'yes' or 'no': ")).trim()
      .toLowerCase();
  }
  return answer === "yes";
}

const CHANGED_KEY_BANNER = [
  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
  "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
  "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
  "",
].join("\n");

/** What connect settles before it touches the terminal or the network. */
export interface ConnectPlan {
  request: ConnectRequest;
  target: Target;
  settings: HostSettings;
}

/**
 * Resolves the host and checks the session name: every usage error, before
 * the terminal is looked at or anything is connected, asked or recorded.
 */
export function planConnect(request: ConnectRequest): ConnectPlan {
  let target: Target;
  let settings: HostSettings;
  try {
    const sessionsConfig = loadSessionsConfig();
    target = singleTarget(request.host, sessionsConfig.groups);
    const sshConfig = loadSshConfig({ configFile: request.configFile });
    for (const warning of sshConfig.warnings) writeErr(formatError(warning));
    settings = sshConfig.resolve(target, {
      user: request.user,
      port: request.port,
      identityFiles: request.key === undefined ? undefined : [request.key],
      strictHostKeyChecking: request.acceptNew ? "accept-new" : undefined,
      forwardAgent: request.forwardAgent ? true : undefined,
    }, {
      user: sessionsConfig.defaults.user,
      connectTimeout: sessionsConfig.defaults.connectTimeout,
    });
  } catch (error) {
    throw connectFailure(error);
  }
  // With the multiplexer named, a bad name is refused now (without it, it
  // is checked once the host's multiplexer is known).
  const backend = request.session?.backend ?? null;
  if (request.session && backend) {
    const reason = remoteSessionNameProblem(
      backend,
      request.session.name,
      settings.user,
    );
    if (reason) {
      throw usageError(
        `bad session name '${request.session.name}' for ${backend}: ${reason}`,
        "choose another name",
      );
    }
  }
  return { request, target, settings };
}

export async function runConnect(plan: ConnectPlan): Promise<number> {
  const { request, target, settings } = plan;
  const label = target.label;
  const agentSocket = Deno.env.get("SSH_AUTH_SOCK") || null;
  const terminal = Terminal.open();
  let connection: SshConnection | null = null;
  try {
    const auth = new Authenticator({
      agentSocket,
      prompt: terminal.prompt,
      askPassword: false,
      keyboardInteractive: true,
    });
    await auth.load([settings]);
    for (const warning of auth.warnings()) writeErr(formatError(warning));
    connection = await connect(settings, {
      auth,
      knownHosts: new KnownHostsFiles(),
      onUnknownHost: (key) =>
        askYesNo(terminal, unknownHostQuestion(label, key)),
      agentSocket,
      onWarning: (warning) =>
        writeErr(
          (warning.kind === "changed" ? CHANGED_KEY_BANNER : "") +
            formatError(warning.message, warning.hint),
        ),
    });
    terminal.setRaw(true);
    return await runInteractive(connection.client, {
      hostLabel: label,
      user: settings.user,
      command: request.command,
      session: request.session,
    }, terminal);
  } catch (error) {
    terminal.restore();
    if (
      error instanceof RemoteError && error.kind === "host-key" &&
      /CHANGED/.test(error.message)
    ) {
      writeErr(CHANGED_KEY_BANNER);
    }
    if (
      connection === null && error instanceof RemoteError &&
      error.kind === "unreachable" && settings.proxyJump.length === 0 &&
      !error.message.includes(settings.hostname)
    ) {
      // As ssh: "connect to host web1 port 22: Connection refused". Not for
      // a jump host's failure, which names the jump host itself.
      throw connectFailure(
        new RemoteError(
          "unreachable",
          `${settings.hostname} port ${settings.port}: ${error.message}`,
          error.hint,
        ),
      );
    }
    throw connectFailure(error);
  } finally {
    terminal.restore();
    connection?.close();
  }
}
