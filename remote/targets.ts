/**
 * Target lists: `--targets`, `--targets-file`, `--exclude`, and the inverse
 * (folding host names back into `web[01-03,07]` for summaries).
 *
 * Syntax of one item: `[user@]host[:port]`, `[user@][v6addr][:port]`,
 * `@group`; a host may carry bracketed ranges (`web[01-10]`,
 * `web[1,3,5-7]`, `rack[1-2]-n[01-04]`), whose zero padding is kept.
 */

import { isIPv6 } from "node:net";
import { RemoteError } from "./errors.ts";
import type { Target } from "./types.ts";

/** Group name → the target list it stands for (same syntax, may use other groups). */
export type TargetGroups = ReadonlyMap<string, string>;

/** More hosts than this from one item is almost surely a typo (`[1-100000]`). */
const MAX_RANGE_SIZE = 10_000;

/** An '@' inside is allowed, as OpenSSH allows it (`alice@corp.example@web1`: user `alice@corp.example`). */
const USER_PATTERN = /^[A-Za-z0-9._](?:[A-Za-z0-9._-]|@(?=[A-Za-z0-9._-]))*$/;
const HOST_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const ZONE_PATTERN = /^[A-Za-z0-9._-]+$/;
const GROUP_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Whether USER can be a login name in a target or a config file. */
export function isUserName(user: string): boolean {
  return USER_PATTERN.test(user);
}

/** What to write instead, for the refusals about one item's shape. */
const ITEM_HINT = "write [user@]host[:port], e.g. deploy@web01:2222";
const NAME_CHARACTERS = "letters, digits, '.', '_' and '-'";
const RANGE_HINT = "write ranges like web[01-10] or web[1,3,5-7]";

function usage(message: string, hint?: string): RemoteError {
  return new RemoteError("usage", message, hint);
}

/** Splits on commas that are not inside `[...]`. */
function splitTopLevel(text: string, what: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "[") {
      if (depth > 0) {
        throw usage(`nested '[' in ${what} '${text}'`, RANGE_HINT);
      }
      depth++;
    } else if (c === "]") {
      if (depth === 0) {
        throw usage(`unmatched ']' in ${what} '${text}'`, RANGE_HINT);
      }
      depth--;
    } else if (c === "," && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) {
    throw usage(
      `unclosed '[' in ${what} '${text}'`,
      "close every '[', as in web[01-10] or [2001:db8::1]:22",
    );
  }
  items.push(text.slice(start));
  return items.map((item) => item.trim()).filter((item) => item !== "");
}

function parsePort(text: string, token: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw usage(
      text === ""
        ? `missing port after ':' in target '${token}'`
        : `bad port '${text}' in target '${token}'`,
      "a port is a number from 1 to 65535",
    );
  }
  return Number(text);
}

const MAX_RANGE_DIGITS = 15;

/** `01-03,7` → ["01","02","03","7"], keeping the width of a zero-padded start. */
function expandRangeSpec(spec: string, token: string): string[] {
  const values: string[] = [];
  for (const part of spec.split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) {
      throw usage(`bad range '[${spec}]' in target '${token}'`, RANGE_HINT);
    }
    const [, first, last] = match;
    // Past 2^53 the numbers lose precision and the loop below would never end.
    if (
      first.length > MAX_RANGE_DIGITS || (last?.length ?? 0) > MAX_RANGE_DIGITS
    ) {
      throw usage(
        `range '[${spec}]' in target '${token}' has a number longer than ${MAX_RANGE_DIGITS} digits`,
        RANGE_HINT,
      );
    }
    if (last === undefined) {
      values.push(first);
      continue;
    }
    const from = Number(first);
    const to = Number(last);
    if (from > to) {
      throw usage(
        `backwards range '${part}' in target '${token}'`,
        "put the smaller number first",
      );
    }
    if (to - from + 1 + values.length > MAX_RANGE_SIZE) {
      throw usage(
        `range '[${spec}]' in target '${token}' has more than ${MAX_RANGE_SIZE} hosts`,
        `one item may name at most ${MAX_RANGE_SIZE} hosts`,
      );
    }
    const width = first.length > 1 && first.startsWith("0") ? first.length : 0;
    for (let n = from; n <= to; n++) {
      values.push(String(n).padStart(width, "0"));
    }
  }
  return values;
}

/** Expands every `[...]` range in a host name (cartesian product, left to right). */
function expandHostRanges(host: string, token: string): string[] {
  let names = [""];
  const pattern = /\[([^\]]*)\]/g;
  let last = 0;
  for (const match of host.matchAll(pattern)) {
    const literal = host.slice(last, match.index);
    const values = expandRangeSpec(match[1], token);
    if (names.length * values.length > MAX_RANGE_SIZE) {
      throw usage(
        `target '${token}' expands to more than ${MAX_RANGE_SIZE} hosts`,
        `one item may name at most ${MAX_RANGE_SIZE} hosts`,
      );
    }
    names = names.flatMap((name) => values.map((v) => name + literal + v));
    last = match.index + match[0].length;
  }
  const tail = host.slice(last);
  return names.map((name) => name + tail);
}

/** One item without `@group`: `[user@]host[:port]` with ranges, or a bracketed IPv6 address. */
function parseItem(token: string): Target[] {
  let rest = token;
  let user: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === "") {
      throw usage(
        `missing user name before '@' in target '${token}'`,
        ITEM_HINT,
      );
    }
    if (!isUserName(user)) {
      throw usage(
        `bad user name '${user}' in target '${token}'`,
        `a user name has ${NAME_CHARACTERS}, and does not start with '-'`,
      );
    }
  }
  let port: number | undefined;
  const ipv6 = /^\[([^\]]*:[^\]]*)\](?::(.*))?$/.exec(rest);
  if (ipv6) {
    // Node checks the address (every RFC 4291 form); a zone is an interface
    // name, which on Linux may hold `_` (Node's check refuses it).
    const [address, zone, ...extra] = ipv6[1].split("%");
    if (
      !isIPv6(address) || extra.length > 0 ||
      (zone !== undefined && !ZONE_PATTERN.test(zone))
    ) {
      throw usage(
        `bad IPv6 address '[${ipv6[1]}]' in target '${token}'`,
        "write an IPv6 address like [2001:db8::1]:22",
      );
    }
    if (ipv6[2] !== undefined) port = parsePort(ipv6[2], token);
    return [makeTarget(ipv6[1], user, port)];
  }
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    if (rest.indexOf(":") !== colon) {
      throw usage(
        `bad target '${token}'`,
        "write an IPv6 address in brackets: [2001:db8::1]:22",
      );
    }
    port = parsePort(rest.slice(colon + 1), token);
    rest = rest.slice(0, colon);
  }
  if (rest === "") {
    throw usage(`missing host name in target '${token}'`, ITEM_HINT);
  }
  const hosts = expandHostRanges(rest, token);
  for (const host of hosts) {
    if (!HOST_PATTERN.test(host)) {
      throw usage(
        `bad host name '${host}' in target '${token}'`,
        `a host name has ${NAME_CHARACTERS}, and starts with a letter, digit or '_'`,
      );
    }
  }
  return hosts.map((host) => makeTarget(host, user, port));
}

function makeTarget(host: string, user?: string, port?: number): Target {
  const hostText = host.includes(":") ? `[${host}]` : host;
  const label = (user === undefined ? "" : `${user}@`) + hostText +
    (port === undefined ? "" : `:${port}`);
  const target: Target = { label, host };
  if (user !== undefined) target.user = user;
  if (port !== undefined) target.port = port;
  return target;
}

function expandList(
  text: string,
  groups: TargetGroups,
  what: string,
  seenGroups: readonly string[],
): Target[] {
  const targets: Target[] = [];
  for (const token of splitTopLevel(text, what)) {
    if (/\s/.test(token)) {
      throw usage(
        `bad target '${token}': it contains a space`,
        "separate targets with commas",
      );
    }
    if (token.startsWith("@")) {
      const name = token.slice(1);
      if (name === "") {
        throw usage(
          "missing group name after '@'",
          "write @NAME for a group of the sessions config file",
        );
      }
      if (!GROUP_PATTERN.test(name)) {
        throw usage(
          `bad group name '${token}'`,
          `a group name has ${NAME_CHARACTERS}, and starts with a letter, digit or '_'`,
        );
      }
      const members = groups.get(name);
      if (members === undefined) {
        throw usage(
          `unknown group '${token}'`,
          "define it with a 'group' line in the sessions config file",
        );
      }
      if (seenGroups.includes(name)) {
        throw usage(
          `group '${token}' includes itself: ${
            [...seenGroups, name].join(" -> ")
          }`,
          "break the loop in the 'group' lines of the sessions config file",
        );
      }
      targets.push(
        ...expandList(members, groups, `group '${token}'`, [
          ...seenGroups,
          name,
        ]),
      );
    } else {
      for (const target of parseItem(token)) targets.push(target);
    }
  }
  return targets;
}

/** Parses a `--targets` / `--exclude` value (may be empty: no targets). */
export function parseTargetList(
  text: string,
  groups: TargetGroups = new Map(),
): Target[] {
  return expandList(text, groups, "target list", []);
}

/**
 * Parses `--targets-file` content: one list per line (commas allowed too),
 * `#` starts a comment, blank lines are skipped. Errors name `file:line`.
 */
export function parseTargetsFile(
  content: string,
  fileName: string,
  groups: TargetGroups = new Map(),
): Target[] {
  const targets: Target[] = [];
  content.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.replace(/#.*$/, "").trim();
    if (line === "") return;
    try {
      for (const target of parseTargetList(line, groups)) targets.push(target);
    } catch (error) {
      if (error instanceof RemoteError) {
        throw new RemoteError(
          error.kind,
          `${fileName}:${index + 1}: ${error.message}`,
          error.hint,
        );
      }
      throw error;
    }
  });
  return targets;
}

/**
 * An exclusion matches a target on host (in any case: host names are not
 * case-sensitive, and OpenSSH lowercases them), and on user/port only when
 * the exclusion names them.
 */
function excludes(exclusion: Target, target: Target): boolean {
  return exclusion.host.toLowerCase() === target.host.toLowerCase() &&
    (exclusion.user === undefined || exclusion.user === target.user) &&
    (exclusion.port === undefined || exclusion.port === target.port);
}

/** One item of an `--exclude` list as written (`web3`, `@staging`, `db[1-4]`), and the targets it stands for. */
export interface ExclusionItem {
  item: string;
  targets: Target[];
}

/** An `--exclude` list, item by item, so a warning can name the item as written. */
export function parseExclusionList(
  text: string,
  groups: TargetGroups = new Map(),
): ExclusionItem[] {
  return splitTopLevel(text, "target list").map((item) => ({
    item,
    targets: expandList(item, groups, "target list", []),
  }));
}

/**
 * The exclusion items that leave out none of `included`: most likely a
 * typo, or a user or port written that the target does not write
 * (`root@web1` does not exclude `web1`, even when the config logs in to it
 * as root). A group or range counts once, and only if none of it matched.
 */
export function unmatchedExclusions(
  included: readonly Target[],
  items: readonly ExclusionItem[],
): string[] {
  return items.filter(({ targets }) =>
    !targets.some((exclusion) =>
      included.some((target) => excludes(exclusion, target))
    )
  ).map(({ item }) => item);
}

/**
 * The final target list: `included` (from --targets and --targets-file, in
 * that order) minus `excluded`, duplicates (same user, host in any case and
 * port) removed, first occurrence kept.
 */
export function selectTargets(
  included: readonly Target[],
  excluded: readonly Target[] = [],
): Target[] {
  const seen = new Set<string>();
  const selected: Target[] = [];
  for (const target of included) {
    const identity = [
      target.user ?? "",
      target.host.toLowerCase(),
      target.port ?? "",
    ]
      .join("\0");
    if (seen.has(identity)) continue;
    seen.add(identity);
    if (excluded.some((exclusion) => excludes(exclusion, target))) continue;
    selected.push(target);
  }
  return selected;
}

interface FoldableLabel {
  prefix: string;
  digits: string;
  suffix: string;
}

/** Splits a label on the last run of digits in its host part (not in user or port). */
function foldable(label: string): FoldableLabel | null {
  const at = label.lastIndexOf("@");
  const userPart = label.slice(0, at + 1);
  let hostPart = label.slice(at + 1);
  if (hostPart.startsWith("[")) return null;
  let portPart = "";
  const colon = hostPart.lastIndexOf(":");
  if (colon >= 0) {
    portPart = hostPart.slice(colon);
    hostPart = hostPart.slice(0, colon);
  }
  const match = /^(.*?)(\d+)(\D*)$/.exec(hostPart);
  // Beyond 15 digits numbers lose precision; such names are listed as they are.
  if (!match || match[2].length > 15) return null;
  return {
    prefix: userPart + match[1],
    digits: match[2],
    suffix: match[3] + portPart,
  };
}

function formatRuns(numbers: number[], width: number): string {
  const pad = (n: number) => String(n).padStart(width, "0");
  const runs: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) j++;
    runs.push(
      i === j ? pad(numbers[i]) : `${pad(numbers[i])}-${pad(numbers[j])}`,
    );
    i = j + 1;
  }
  return runs.join(",");
}

/**
 * Folds labels into a compact list: `web01,web02,web03,web07,db1` →
 * `web[01-03,07],db1`. Numbers are grouped by the text around them and by
 * zero padding, so the result expands (parseTargetList) back to the same
 * set of labels. Groups appear in order of their first label.
 */
export function foldHosts(labels: readonly string[]): string {
  interface Group {
    prefix: string;
    suffix: string;
    width: number;
    numbers: Set<number>;
  }
  const entries: (Group | string)[] = [];
  const groupsByKey = new Map<string, Group>();
  const seenPlain = new Set<string>();
  const parts = labels.map((label) => ({ label, parts: foldable(label) }));
  // A number without leading zero can share a padded group of its own width (09,10).
  const paddedWidths = new Set<string>();
  for (const { parts: p } of parts) {
    if (p && p.digits.length > 1 && p.digits.startsWith("0")) {
      paddedWidths.add(`${p.prefix}\0${p.suffix}\0${p.digits.length}`);
    }
  }
  for (const { label, parts: p } of parts) {
    if (!p) {
      if (!seenPlain.has(label)) entries.push(label);
      seenPlain.add(label);
      continue;
    }
    const padded = p.digits.length > 1 && p.digits.startsWith("0");
    const sameWidthKey = `${p.prefix}\0${p.suffix}\0${p.digits.length}`;
    const width = padded || paddedWidths.has(sameWidthKey)
      ? p.digits.length
      : 0;
    const key = `${p.prefix}\0${p.suffix}\0${width}`;
    let group = groupsByKey.get(key);
    if (!group) {
      group = { prefix: p.prefix, suffix: p.suffix, width, numbers: new Set() };
      groupsByKey.set(key, group);
      entries.push(group);
    }
    group.numbers.add(Number(p.digits));
  }
  return entries.map((entry) => {
    if (typeof entry === "string") return entry;
    const numbers = [...entry.numbers].sort((a, b) => a - b);
    const body = formatRuns(numbers, entry.width);
    return numbers.length === 1
      ? entry.prefix + body + entry.suffix
      : `${entry.prefix}[${body}]${entry.suffix}`;
  }).join(",");
}
