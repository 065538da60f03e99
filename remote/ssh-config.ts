/**
 * ~/.ssh/config as OpenSSH 9 reads it, for the keywords `sessions` uses.
 *
 * Files are read and parsed once per run (loadSshConfig); resolving a host
 * then walks the parsed lines without touching the disk, so hundreds of
 * hosts cost little. Semantics follow OpenSSH's readconf.c: the first value
 * obtained wins (IdentityFile accumulates), `Host` matches the host as
 * typed, `Match host` the HostName so far, `Include`d files share the
 * enclosing block's state and are parsed but never applied inside a block
 * that does not apply, and `Match final` (or `canonical`) blocks apply in a
 * second pass whose host is the resolved HostName.
 *
 * Deliberate differences: `Match exec` runs no program (the criterion is
 * false, negated or not, and a warning names the line); keywords not listed
 * in KEYWORDS are ignored rather than rejected; `~user/` is not expanded;
 * file ownership/permissions are not checked; the home directory is $HOME
 * (OpenSSH uses the password database) so tests can point it elsewhere.
 *
 * Why not npm `ssh-config`: it follows no Include, expands no tokens, and
 * runs `Match exec` commands; what remains (line splitting) is small.
 */

import { createHash } from "node:crypto";
import { isAbsolute, join } from "node:path";
import { RemoteError } from "./errors.ts";
import { MAX_DURATION_SECONDS, parseDurationSeconds } from "./duration.ts";
import { matchPattern, matchPatternList } from "./patterns.ts";
import { parseTargetList } from "./targets.ts";
import type { HostSettings, StrictHostKeyChecking, Target } from "./types.ts";

/** Who and where the client runs: the source of `%u %d %l %L %i` and defaults. */
export interface LocalIdentity {
  user: string;
  home: string;
  uid: number;
  /** Full host name (`%l`); `%L` is its first label. */
  hostname: string;
}

/** Values from the command line: they win over ~/.ssh/config. */
export interface HostOverrides {
  user?: string;
  port?: number;
  /** --key: tried before the config's IdentityFile entries, as `ssh -i` does. */
  identityFiles?: string[];
  connectTimeout?: number;
  strictHostKeyChecking?: StrictHostKeyChecking;
  forwardAgent?: boolean;
}

/** Values from the sessions config file: used only where ~/.ssh/config sets nothing. */
export interface HostDefaults {
  user?: string;
  connectTimeout?: number;
}

export interface LoadSshConfigOptions {
  /** `-F FILE`; "none" reads no file. Without it: ~/.ssh/config, then the system file. */
  configFile?: string;
  /** Defaults to /etc/ssh/ssh_config; read only without configFile. */
  systemConfigFile?: string;
  local?: LocalIdentity;
}

export interface SshConfig {
  /** One line per unsupported construct met while reading (e.g. `Match exec`), for cli/ to print once. */
  readonly warnings: readonly string[];
  /** The files read, in order (includes too). */
  readonly files: readonly string[];
  /** The literal names of `Host` lines (no wildcards, no negations), in file order: shell completion offers them. */
  hostAliases(): string[];
  resolve(
    target: Target,
    overrides?: HostOverrides,
    defaults?: HostDefaults,
  ): HostSettings;
}

/** Ports and identity file names OpenSSH uses when nothing is configured. */
export const DEFAULT_PORT = 22;
export const DEFAULT_IDENTITY_FILES = [
  "~/.ssh/id_ed25519",
  "~/.ssh/id_ecdsa",
  "~/.ssh/id_rsa",
];
const DEFAULT_USER_KNOWN_HOSTS = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
const DEFAULT_GLOBAL_KNOWN_HOSTS = [
  "/etc/ssh/ssh_known_hosts",
  "/etc/ssh/ssh_known_hosts2",
];
const DEFAULT_SERVER_ALIVE_COUNT_MAX = 3;
/** OpenSSH's READCONF_MAX_DEPTH. */
const MAX_INCLUDE_DEPTH = 16;
const MAX_PROXY_JUMP_DEPTH = 8;

// ---------------------------------------------------------------- parsing

type ConfigValue =
  | {
    key: "hostname" | "user" | "hostkeyalias" | "proxycommand";
    value: string;
  }
  | { key: "port" | "serveralivecountmax"; value: number }
  | { key: "connecttimeout" | "serveraliveinterval"; value: number | null }
  | { key: "identitiesonly" | "forwardagent"; value: boolean }
  | { key: "identityfile"; value: string }
  | { key: "userknownhostsfile" | "globalknownhostsfile"; value: string[] }
  | { key: "stricthostkeychecking"; value: StrictHostKeyChecking }
  | { key: "proxyjump"; value: string };

type MatchCriterion =
  | { negate: boolean; kind: "all" | "canonical" | "final" | "exec" }
  | {
    negate: boolean;
    kind: "host" | "originalhost" | "user" | "localuser";
    patterns: string;
  };

type ConfigLine =
  | { kind: "host"; patterns: { negated: boolean; pattern: string }[] }
  | { kind: "match"; criteria: MatchCriterion[] }
  | { kind: "include"; files: ConfigLine[][] }
  | { kind: "option"; option: ConfigValue; where: string };

interface ParseContext {
  userConfig: boolean;
  local: LocalIdentity;
  files: string[];
  warnings: string[];
  hasFinalMatch: boolean;
}

function configError(where: string, message: string): RemoteError {
  return new RemoteError(
    "usage",
    `${where}: ${message}`,
    "fix the line in the SSH config file",
  );
}

/** OpenSSH's argv_split: quotes group, backslash escapes quotes/backslash/space, `#` ends the line. */
export function splitConfigArguments(text: string, where: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (c === "#") break;
    let arg = "";
    let quote = "";
    for (; i < text.length; i++) {
      const ch = text[i];
      const next = text[i + 1];
      if (ch === "\\") {
        if (
          next === "'" || next === '"' || next === "\\" ||
          (quote === "" && next === " ")
        ) {
          i++;
          arg += next;
        } else {
          arg += ch;
        }
      } else if (quote === "" && (ch === " " || ch === "\t")) {
        break;
      } else if (quote === "" && (ch === '"' || ch === "'")) {
        quote = ch;
      } else if (quote !== "" && ch === quote) {
        quote = "";
      } else {
        arg += ch;
      }
    }
    if (quote !== "") throw configError(where, "unclosed quote");
    args.push(arg);
  }
  return args;
}

/** `Keyword args`, `Keyword=args` or `Keyword = args` → [lower-case keyword, rest]. */
function splitKeyword(line: string): [string, string] | null {
  const match = /^\s*([^\s=]+)\s*(?:=\s*|\s)(.*)$/s.exec(line) ??
    /^\s*([^\s=]+)\s*$/.exec(line);
  if (!match || match[1].startsWith("#")) return null;
  return [match[1].toLowerCase(), (match[2] ?? "").trim()];
}

function parseFlag(value: string, where: string, keyword: string): boolean {
  switch (value.toLowerCase()) {
    case "yes":
    case "true":
      return true;
    case "no":
    case "false":
      return false;
    default:
      throw configError(where, `${keyword} must be yes or no, not '${value}'`);
  }
}

function parseStrictHostKeyChecking(
  value: string,
  where: string,
): StrictHostKeyChecking {
  switch (value.toLowerCase()) {
    case "yes":
    case "true":
      return "yes";
    case "no":
    case "false":
    case "off":
      return "no";
    case "ask":
      return "ask";
    case "accept-new":
      return "accept-new";
    default:
      throw configError(
        where,
        `StrictHostKeyChecking must be yes, no, ask, accept-new or off, not '${value}'`,
      );
  }
}

function parseTime(
  value: string,
  where: string,
  keyword: string,
): number | null {
  if (value === "none") return null;
  const seconds = parseDurationSeconds(value);
  if (seconds === null) {
    throw configError(where, `${keyword}: bad time '${value}'`);
  }
  // OpenSSH takes any length; past what a timer holds it means "never" here too.
  return Math.min(seconds, MAX_DURATION_SECONDS);
}

function parsePortValue(value: string, where: string): number {
  const port = /^\d+$/.test(value) ? Number(value) : servicePort(value);
  if (port === null || port < 1 || port > 65535) {
    throw configError(where, `bad port '${value}'`);
  }
  return port;
}

/**
 * The TCP port of a service NAME (`ssh`) in /etc/services, as OpenSSH's
 * getservbyname() finds it for `Port ssh`; null when it is not there.
 */
function servicePort(name: string): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync("/etc/services");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const [service, portAndProtocol, ...aliases] = line.replace(/#.*/, "")
      .trim().split(/\s+/);
    const match = /^(\d+)\/tcp$/.exec(portAndProtocol ?? "");
    if (match && (service === name || aliases.includes(name))) {
      return Number(match[1]);
    }
  }
  return null;
}

function parseMatch(
  args: string[],
  where: string,
  context: ParseContext,
): MatchCriterion[] {
  const criteria: MatchCriterion[] = [];
  for (let i = 0; i < args.length; i++) {
    const negate = args[i].startsWith("!");
    const attribute = (negate ? args[i].slice(1) : args[i]).toLowerCase();
    if (attribute === "all") {
      if (criteria.length > 1 || i + 1 < args.length) {
        throw configError(
          where,
          "Match 'all' cannot be combined with other criteria",
        );
      }
      criteria.push({ negate, kind: "all" });
      continue;
    }
    if (attribute === "canonical" || attribute === "final") {
      if (attribute === "final") context.hasFinalMatch = true;
      criteria.push({ negate, kind: attribute });
      continue;
    }
    const argument = args[++i];
    if (argument === undefined) {
      throw configError(where, `Match ${attribute} needs an argument`);
    }
    switch (attribute) {
      case "exec":
        context.warnings.push(
          `${where}: 'Match exec' is not supported (sessions runs no programs from SSH config); the block is skipped`,
        );
        criteria.push({ negate, kind: "exec" });
        break;
      case "host":
      case "originalhost":
      case "user":
      case "localuser":
        criteria.push({ negate, kind: attribute, patterns: argument });
        break;
      default:
        throw configError(where, `unsupported Match criterion '${attribute}'`);
    }
  }
  if (criteria.length === 0) {
    throw configError(where, "Match needs at least one criterion");
  }
  return criteria;
}

function parseOption(
  keyword: string,
  args: string[],
  rest: string,
  where: string,
): ConfigValue | null {
  const one = args[0];
  // As ssh: a keyword that takes one value refuses more, rather than drop them.
  if (args.length > 1 && SINGLE_VALUE_KEYWORDS.has(keyword)) {
    throw configError(where, `${keyword}: extra arguments at end of line`);
  }
  switch (keyword) {
    case "hostname":
    case "user":
    case "hostkeyalias":
      return { key: keyword, value: one };
    case "proxycommand":
      return { key: keyword, value: rest };
    case "port":
      return { key: "port", value: parsePortValue(one, where) };
    case "serveralivecountmax":
      if (!/^\d+$/.test(one)) {
        throw configError(where, `ServerAliveCountMax: bad number '${one}'`);
      }
      return { key: keyword, value: Number(one) };
    case "connecttimeout":
    case "serveraliveinterval":
      return { key: keyword, value: parseTime(one, where, keyword) };
    case "identitiesonly":
      return { key: keyword, value: parseFlag(one, where, "IdentitiesOnly") };
    case "forwardagent":
      // Anything else is a socket whose agent OpenSSH forwards (often a
      // restricted one); forwarding the default agent would give away more.
      if (!/^(yes|true|no|false)$/i.test(one)) {
        throw configError(
          where,
          `ForwardAgent '${one}': forwarding an agent socket other than SSH_AUTH_SOCK is not supported; use yes or no`,
        );
      }
      return { key: keyword, value: parseFlag(one, where, "ForwardAgent") };
    case "revokedhostkeys":
    case "knownhostscommand":
      // Ignoring either would accept keys that OpenSSH refuses.
      throw configError(
        where,
        `${
          keyword === "revokedhostkeys"
            ? "RevokedHostKeys"
            : "KnownHostsCommand"
        } is not supported by sessions, which would not refuse the keys it names; mark revoked keys with @revoked lines in known_hosts instead`,
      );
    case "identityfile":
      return { key: keyword, value: one };
    case "userknownhostsfile":
    case "globalknownhostsfile":
      if (args.some((arg) => arg.toLowerCase() === "none") && args.length > 1) {
        throw configError(where, `${keyword}: 'none' must appear alone`);
      }
      return { key: keyword, value: args };
    case "stricthostkeychecking":
      return { key: keyword, value: parseStrictHostKeyChecking(one, where) };
    case "proxyjump": {
      const spec = rest.replace(/#.*$/, "").trim();
      if (spec.toLowerCase() !== "none") {
        for (const hop of spec.split(",")) parseJumpHop(hop, where);
      }
      return { key: keyword, value: spec };
    }
    default:
      return null;
  }
}

const SINGLE_VALUE_KEYWORDS = new Set([
  "hostname",
  "user",
  "hostkeyalias",
  "port",
  "serveralivecountmax",
  "connecttimeout",
  "serveraliveinterval",
  "identitiesonly",
  "forwardagent",
  "identityfile",
  "stricthostkeychecking",
]);

/** `[ssh://][user@]host[:port]` of one ProxyJump hop. */
function parseJumpHop(text: string, where: string): Target {
  const spec = text.trim().replace(/^ssh:\/\//, "").replace(/\/$/, "");
  try {
    const targets = parseTargetList(spec);
    if (targets.length === 1 && !spec.includes(",")) {
      return { ...targets[0], label: spec };
    }
  } catch {
    // reported below with the config line
  }
  throw configError(where, `bad ProxyJump hop '${text.trim()}'`);
}

/** Glob with `*`, `?`, `[...]` per path segment, sorted like glob(3); no match → []. */
function globFiles(pattern: string): string[] {
  const segments = pattern.split("/");
  let paths = [segments[0] === "" ? "/" : segments[0]];
  for (const segment of segments.slice(1)) {
    if (segment === "") continue;
    if (!/[*?[]/.test(segment)) {
      paths = paths.map((p) => join(p, segment));
      continue;
    }
    const regexp = new RegExp(
      "^" +
        segment.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*")
          .replace(/\?/g, "[^/]").replace(/\[!/g, "[^") +
        "$",
    );
    const next: string[] = [];
    for (const dir of paths) {
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch {
        continue;
      }
      for (const entry of entries) {
        if (entry.name.startsWith(".") && !segment.startsWith(".")) continue;
        if (regexp.test(entry.name)) next.push(join(dir, entry.name));
      }
    }
    paths = next.sort();
  }
  return paths.filter((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

function includePaths(
  arg: string,
  where: string,
  context: ParseContext,
): string[] {
  let path = arg;
  if (path.startsWith("~")) {
    if (!context.userConfig) {
      throw configError(where, `bad Include path '${arg}'`);
    }
    path = expandTilde(path, context.local.home);
  } else if (!isAbsolute(path)) {
    path = context.userConfig
      ? join(context.local.home, ".ssh", path)
      : join("/etc/ssh", path);
  }
  return globFiles(path);
}

function readConfigFile(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    if (error instanceof Deno.errors.IsADirectory) return null;
    throw new RemoteError(
      "usage",
      `cannot read SSH config ${path}: ${(error as Error).message}`,
    );
  }
}

function parseConfigText(
  text: string,
  fileName: string,
  context: ParseContext,
  depth: number,
): ConfigLine[] {
  if (depth > MAX_INCLUDE_DEPTH) {
    throw new RemoteError(
      "usage",
      `${fileName}: too many nested Include levels`,
    );
  }
  context.files.push(fileName);
  const lines: ConfigLine[] = [];
  text.split("\n").forEach((raw, index) => {
    const where = `${fileName}:${index + 1}`;
    const split = splitKeyword(raw.replace(/[\s\f]+$/, ""));
    if (!split) return;
    const [keyword, rest] = split;
    if (rest === "") throw configError(where, `no argument after '${keyword}'`);
    const args = splitConfigArguments(rest, where);
    if (args.length === 0 || args[0] === "") {
      throw configError(where, `no argument after '${keyword}'`);
    }
    switch (keyword) {
      case "host":
        lines.push({
          kind: "host",
          patterns: args.map((arg) => ({
            negated: arg.startsWith("!"),
            pattern: arg.startsWith("!") ? arg.slice(1) : arg,
          })),
        });
        return;
      case "match":
        lines.push({
          kind: "match",
          criteria: parseMatch(args, where, context),
        });
        return;
      case "include":
        lines.push({
          kind: "include",
          files: args.flatMap((arg) => includePaths(arg, where, context)).map(
            (path) => {
              const content = readConfigFile(path);
              return content === null
                ? []
                : parseConfigText(content, path, context, depth + 1);
            },
          ),
        });
        return;
    }
    const option = parseOption(keyword, args, rest, where);
    if (option) lines.push({ kind: "option", option, where });
  });
  return lines;
}

// ---------------------------------------------------------------- resolving

/** What the config says for one host: the first value of each keyword. */
interface Collected {
  hostname?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly?: boolean;
  proxyJump?: string;
  proxyCommand?: string;
  connectTimeout?: number;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  strictHostKeyChecking?: StrictHostKeyChecking;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hostKeyAlias?: string;
  forwardAgent?: boolean;
  /**
   * FILE:LINE of each applied value that is expanded later (HostName,
   * IdentityFile, UserKnownHostsFile), keyed by `keyword value`. Tokens and
   * `${VAR}` are checked only when a host uses the value, as OpenSSH does,
   * so the error names the line then.
   */
  origins: Map<string, string>;
}

interface PassState {
  /** Host the `Host` lines match: the host as typed, or in the final pass the HostName. */
  host: string;
  originalHost: string;
  finalPass: boolean;
  localUser: string;
  collected: Collected;
  active: boolean;
}

function hostForMatch(state: PassState): string {
  const { hostname } = state.collected;
  if (state.finalPass) return hostname ?? state.host;
  return hostname === undefined
    ? state.host
    : expandHostName(hostname, state.host, state.collected);
}

function evaluateMatch(criteria: MatchCriterion[], state: PassState): boolean {
  let result = true;
  for (const criterion of criteria) {
    let matched: boolean;
    switch (criterion.kind) {
      case "all":
        return result && !criterion.negate;
      case "canonical":
      case "final":
        matched = state.finalPass;
        break;
      case "exec":
        // Never run: the criterion fails whether negated or not.
        result = false;
        continue;
      case "host":
        matched =
          matchPatternList(hostForMatch(state), criterion.patterns, true) === 1;
        break;
      case "originalhost":
        matched =
          matchPatternList(state.originalHost, criterion.patterns, true) === 1;
        break;
      case "user":
        matched = matchPatternList(
          state.collected.user ?? state.localUser,
          criterion.patterns,
          false,
        ) === 1;
        break;
      case "localuser":
        matched =
          matchPatternList(state.localUser, criterion.patterns, false) === 1;
        break;
    }
    if (matched === criterion.negate) result = false;
  }
  return result;
}

function evaluateHost(
  patterns: { negated: boolean; pattern: string }[],
  host: string,
): boolean {
  let active = false;
  for (const { negated, pattern } of patterns) {
    if (matchPattern(host, pattern)) {
      if (negated) return false;
      active = true;
    }
  }
  return active;
}

/** The keywords whose values are expanded (tokens, `~`, `${VAR}`) when used. */
const EXPANDED_KEYWORDS = new Set([
  "hostname",
  "identityfile",
  "userknownhostsfile",
]);

function applyOption(
  collected: Collected,
  option: ConfigValue,
  where: string,
): void {
  if (EXPANDED_KEYWORDS.has(option.key)) {
    for (const value of [option.value].flat()) {
      const key = `${option.key} ${value}`;
      // The first line wins, as the first value does.
      if (!collected.origins.has(key)) collected.origins.set(key, where);
    }
  }
  switch (option.key) {
    case "hostname":
      collected.hostname ??= option.value;
      break;
    case "user":
      collected.user ??= option.value;
      break;
    case "hostkeyalias":
      collected.hostKeyAlias ??= option.value;
      break;
    case "proxycommand":
      // A ProxyJump seen first wins over a later ProxyCommand, as in OpenSSH
      // (where `ProxyJump none` leaves a later ProxyCommand in force).
      if (
        collected.proxyJump === undefined ||
        collected.proxyJump.toLowerCase() === "none"
      ) {
        collected.proxyCommand ??= option.value;
      }
      break;
    case "port":
      collected.port ??= option.value;
      break;
    case "serveralivecountmax":
      collected.serverAliveCountMax ??= option.value;
      break;
    // "none" is OpenSSH's "unset" marker here: a later line may still set a value.
    case "connecttimeout":
      collected.connectTimeout ??= option.value ?? undefined;
      break;
    case "serveraliveinterval":
      collected.serverAliveInterval ??= option.value ?? undefined;
      break;
    case "identitiesonly":
      collected.identitiesOnly ??= option.value;
      break;
    case "forwardagent":
      collected.forwardAgent ??= option.value;
      break;
    case "identityfile":
      if (!collected.identityFiles.includes(option.value)) {
        collected.identityFiles.push(option.value);
      }
      break;
    case "userknownhostsfile":
      collected.userKnownHostsFiles ??= option.value;
      break;
    case "globalknownhostsfile":
      collected.globalKnownHostsFiles ??= option.value;
      break;
    case "stricthostkeychecking":
      collected.strictHostKeyChecking ??= option.value;
      break;
    case "proxyjump":
      // A ProxyCommand seen first wins over ProxyJump, as in OpenSSH.
      if (
        collected.proxyJump === undefined &&
        collected.proxyCommand === undefined
      ) {
        collected.proxyJump = option.value;
      }
      break;
  }
}

function runLines(
  lines: ConfigLine[],
  state: PassState,
  neverMatch: boolean,
): void {
  for (const line of lines) {
    switch (line.kind) {
      case "host":
        state.active = !neverMatch && evaluateHost(line.patterns, state.host);
        break;
      case "match":
        state.active = !neverMatch && evaluateMatch(line.criteria, state);
        break;
      case "include": {
        const outer = state.active;
        for (const file of line.files) {
          runLines(file, state, neverMatch || !outer);
          state.active = outer;
        }
        break;
      }
      case "option":
        if (state.active) applyOption(state.collected, line.option, line.where);
        break;
    }
  }
}

// ---------------------------------------------------------------- tokens

/** `%h` and `%%` in HostName (the only tokens OpenSSH allows there). */
function expandHostName(
  hostname: string,
  host: string,
  collected: Collected,
): string {
  return expandPercent(
    hostname,
    { h: host },
    valueLabel(collected, "HostName", hostname),
  );
}

/** `FILE:LINE: Keyword 'value'` for an error about a value from a config line. */
function valueLabel(
  collected: Collected,
  keyword: string,
  value: string,
): string {
  const where = collected.origins.get(`${keyword.toLowerCase()} ${value}`);
  return `${where === undefined ? "" : `${where}: `}${keyword} '${value}'`;
}

function expandPercent(
  text: string,
  values: Record<string, string | (() => string)>,
  what: string,
): string {
  return text.replace(/%(.?)/gs, (_, key: string) => {
    if (key === "%") return "%";
    const value = values[key];
    if (value === undefined) {
      throw new RemoteError(
        "usage",
        `${what}: unknown token '%${key}'`,
        "see TOKENS in ssh_config(5)",
      );
    }
    return typeof value === "function" ? value() : value;
  });
}

function expandTilde(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** `${NAME}` from the environment, as OpenSSH allows in file names. */
function expandEnvironment(text: string, what: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = Deno.env.get(name);
    if (value === undefined) {
      throw new RemoteError(
        "usage",
        `${what}: environment variable \${${name}} is not set`,
      );
    }
    return value;
  });
}

// ---------------------------------------------------------------- public

/** Where a login lands: user, host (in any case) and port, through the same jump hosts or ProxyCommand. */
function destination(settings: HostSettings): string {
  const path = [...settings.proxyJump, settings]
    .map((hop) => `${hop.user}@${hop.hostname.toLowerCase()}:${hop.port}`)
    .join(" > ");
  return settings.proxyCommand ? `${path} via ${settings.proxyCommand}` : path;
}

/**
 * HOSTS without the ones that, once resolved, land where an earlier one
 * does (`web1` and `root@web1:22` when the config logs in to web1 as
 * root): the command would run twice on one machine. Each dropped host
 * comes with the label of the one kept and the destination they share.
 */
export function withoutSameDestination(hosts: readonly HostSettings[]): {
  hosts: HostSettings[];
  dropped: { label: string; sameAs: string; destination: string }[];
} {
  const first = new Map<string, string>();
  const kept: HostSettings[] = [];
  const dropped: { label: string; sameAs: string; destination: string }[] = [];
  for (const host of hosts) {
    const where = destination(host);
    const sameAs = first.get(where);
    if (sameAs === undefined) {
      first.set(where, host.target.label);
      kept.push(host);
    } else {
      dropped.push({ label: host.target.label, sameAs, destination: where });
    }
  }
  return { hosts: kept, dropped };
}

/** The user, home, uid and host name of this process (home from $HOME, see the file comment). */
export function localIdentity(): LocalIdentity {
  const uid = Deno.uid() ?? 0;
  let user = Deno.env.get("USER") ?? Deno.env.get("LOGNAME");
  let home = Deno.env.get("HOME");
  if (user === undefined || home === undefined) {
    const entry = readPasswdEntry(uid);
    user ??= entry?.user ?? String(uid);
    home ??= entry?.home ?? "/";
  }
  return { user, home, uid, hostname: Deno.hostname() };
}

function readPasswdEntry(uid: number): { user: string; home: string } | null {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const fields = line.split(":");
      if (fields.length >= 6 && Number(fields[2]) === uid) {
        return { user: fields[0], home: fields[5] };
      }
    }
  } catch {
    // No password file: the caller falls back to the uid and "/".
  }
  return null;
}

/** Reads and parses the SSH config files once; resolve() then works from memory. */
export function loadSshConfig(options: LoadSshConfigOptions = {}): SshConfig {
  const local = options.local ?? localIdentity();
  const context: ParseContext = {
    userConfig: true,
    local,
    files: [],
    warnings: [],
    hasFinalMatch: false,
  };
  const parsed: ConfigLine[][] = [];
  if (options.configFile !== undefined) {
    if (options.configFile.toLowerCase() !== "none") {
      const path = expandTilde(options.configFile, local.home);
      const content = readConfigFile(path);
      if (content === null) {
        throw new RemoteError(
          "usage",
          `cannot open SSH config file ${options.configFile}`,
          "check the path given to -F",
        );
      }
      parsed.push(parseConfigText(content, path, context, 0));
    }
  } else {
    const userPath = join(local.home, ".ssh", "config");
    const userContent = readConfigFile(userPath);
    if (userContent !== null) {
      parsed.push(parseConfigText(userContent, userPath, context, 0));
    }
    const systemPath = options.systemConfigFile ?? "/etc/ssh/ssh_config";
    const systemContent = readConfigFile(systemPath);
    if (systemContent !== null) {
      context.userConfig = false;
      parsed.push(parseConfigText(systemContent, systemPath, context, 0));
    }
  }
  return new ParsedSshConfig(parsed, context, local);
}

class ParsedSshConfig implements SshConfig {
  readonly warnings: readonly string[];
  readonly files: readonly string[];
  readonly #parsed: ConfigLine[][];
  readonly #local: LocalIdentity;
  readonly #hasFinalMatch: boolean;

  constructor(
    parsed: ConfigLine[][],
    context: ParseContext,
    local: LocalIdentity,
  ) {
    this.#parsed = parsed;
    this.#local = local;
    this.#hasFinalMatch = context.hasFinalMatch;
    this.warnings = [...new Set(context.warnings)];
    this.files = context.files;
  }

  resolve(
    target: Target,
    overrides: HostOverrides = {},
    defaults: HostDefaults = {},
  ): HostSettings {
    return this.#resolve(target, overrides, defaults, [], true);
  }

  hostAliases(): string[] {
    const aliases = new Set<string>();
    const walk = (lines: ConfigLine[]) => {
      for (const line of lines) {
        if (line.kind === "include") line.files.forEach(walk);
        if (line.kind !== "host") continue;
        for (const { negated, pattern } of line.patterns) {
          if (!negated && !/[*?]/.test(pattern)) aliases.add(pattern);
        }
      }
    };
    this.#parsed.forEach(walk);
    return [...aliases];
  }

  #resolve(
    target: Target,
    overrides: HostOverrides,
    defaults: HostDefaults,
    chain: string[],
    followJump: boolean,
  ): HostSettings {
    const collected = this.#collect(target, overrides);
    const local = this.#local;
    const hostname = collected.hostname ?? target.host;
    const port = collected.port ?? DEFAULT_PORT;
    const user = collected.user ?? defaults.user ?? local.user;
    const hostKeyAlias = collected.hostKeyAlias?.toLowerCase() ?? null;

    let shortHost = local.hostname;
    if (shortHost.includes(".")) {
      shortHost = shortHost.slice(0, shortHost.indexOf("."));
    }
    const tokens: Record<string, string | (() => string)> = {
      C: () =>
        createHash("sha1").update(`${local.hostname}${hostname}${port}${user}`)
          .digest("hex"),
      L: shortHost,
      i: String(local.uid),
      k: hostKeyAlias ?? target.host,
      l: local.hostname,
      n: target.host,
      p: String(port),
      d: local.home,
      h: hostname,
      r: user,
      u: local.user,
    };
    const expandPath = (path: string, keyword: string) => {
      const what = valueLabel(collected, keyword, path);
      return expandEnvironment(
        expandPercent(expandTilde(path, local.home), tokens, what),
        what,
      );
    };

    const explicit = collected.identityFiles.length > 0;
    const fromFlags = new Set(overrides.identityFiles);
    const identityFiles: string[] = [];
    const commandLineIdentityFiles: string[] = [];
    for (
      const path of explicit ? collected.identityFiles : DEFAULT_IDENTITY_FILES
    ) {
      if (path.toLowerCase() === "none") continue;
      const expanded = expandPath(path, "IdentityFile");
      identityFiles.push(expanded);
      if (fromFlags.has(path)) commandLineIdentityFiles.push(expanded);
    }
    const userKnownHosts = collected.userKnownHostsFiles ??
      DEFAULT_USER_KNOWN_HOSTS;
    const globalKnownHosts = collected.globalKnownHostsFiles ??
      DEFAULT_GLOBAL_KNOWN_HOSTS;

    const label = `${user}@${hostname}:${port}`;
    if (chain.includes(label) || chain.length >= MAX_PROXY_JUMP_DEPTH) {
      throw new RemoteError(
        "usage",
        `ProxyJump loop: ${[...chain, label].join(" -> ")}`,
        "fix ProxyJump in the SSH config",
      );
    }

    const settings: HostSettings = {
      target,
      hostname,
      port,
      user,
      identityFiles,
      identityFilesExplicit: explicit,
      commandLineIdentityFiles,
      identitiesOnly: collected.identitiesOnly ?? false,
      proxyJump: [],
      connectTimeout: collected.connectTimeout ?? defaults.connectTimeout ??
        null,
      serverAliveInterval: collected.serverAliveInterval ?? 0,
      serverAliveCountMax: collected.serverAliveCountMax ??
        DEFAULT_SERVER_ALIVE_COUNT_MAX,
      strictHostKeyChecking: overrides.strictHostKeyChecking ??
        collected.strictHostKeyChecking ?? null,
      userKnownHostsFiles: userKnownHosts[0]?.toLowerCase() === "none"
        ? []
        : userKnownHosts.map((path) => expandPath(path, "UserKnownHostsFile")),
      globalKnownHostsFiles: globalKnownHosts[0]?.toLowerCase() === "none"
        ? []
        : [...globalKnownHosts],
      hostKeyAlias,
      forwardAgent: overrides.forwardAgent ?? collected.forwardAgent ?? false,
      proxyCommand: collected.proxyCommand === undefined ||
          collected.proxyCommand.toLowerCase() === "none"
        ? null
        : collected.proxyCommand,
    };
    if (overrides.connectTimeout !== undefined) {
      settings.connectTimeout = overrides.connectTimeout;
    }
    if (
      followJump && collected.proxyJump !== undefined &&
      collected.proxyJump.toLowerCase() !== "none"
    ) {
      settings.proxyJump = this.#resolveJumps(collected.proxyJump, defaults, [
        ...chain,
        label,
      ]);
    }
    return settings;
  }

  /**
   * `ProxyJump a,b,c` is `ssh -J a,b c` for the last hop: each hop is reached
   * through the ones before it, so only the first hop follows its own
   * ProxyJump from the config (recursively).
   */
  #resolveJumps(
    spec: string,
    defaults: HostDefaults,
    chain: string[],
  ): HostSettings[] {
    const hops = spec.split(",").map((hop) => parseJumpHop(hop, "ProxyJump"));
    return hops.map((hop, index) => {
      const overrides: HostOverrides = {};
      if (hop.user !== undefined) overrides.user = hop.user;
      if (hop.port !== undefined) overrides.port = hop.port;
      const hopTarget: Target = { label: hop.label, host: hop.host };
      return this.#resolve(hopTarget, overrides, defaults, chain, index === 0);
    });
  }

  #collect(target: Target, overrides: HostOverrides): Collected {
    const collected: Collected = {
      identityFiles: [...(overrides.identityFiles ?? [])],
      origins: new Map(),
    };
    const user = target.user ?? overrides.user;
    const port = target.port ?? overrides.port;
    if (user !== undefined) collected.user = user;
    if (port !== undefined) collected.port = port;

    const state: PassState = {
      host: target.host,
      originalHost: target.host,
      finalPass: false,
      localUser: this.#local.user,
      collected,
      active: true,
    };
    for (const file of this.#parsed) {
      state.active = true;
      runLines(file, state, false);
    }
    let host = collected.hostname === undefined
      ? target.host
      : expandHostName(collected.hostname, target.host, collected);
    if (!isAddress(host)) host = host.toLowerCase();
    collected.hostname = host;
    if (this.#hasFinalMatch) {
      state.host = host;
      state.finalPass = true;
      for (const file of this.#parsed) {
        state.active = true;
        runLines(file, state, false);
      }
    }
    return collected;
  }
}

function isAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}
