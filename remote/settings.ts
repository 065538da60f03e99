/**
 * The sessions config file, `$XDG_CONFIG_HOME/sessions/config` (default
 * `~/.config/sessions/config`): one `keyword value` per line, `#` comments,
 * in the spirit of ssh_config:
 *
 *     parallel 64                 # fan-out of a bare --parallel
 *     timeout 2m                  # per-host command timeout (--timeout)
 *     connect-timeout 10s         # when ~/.ssh/config sets no ConnectTimeout
 *     user deploy                 # when neither the target nor ~/.ssh/config names one
 *     group web web[01-10],db1    # --targets @web
 *     group all @web,cache[1-2]   # groups may use groups (defined anywhere in the file)
 *
 * A missing file is an empty configuration. Anything malformed is a
 * RemoteError("usage") naming file:line and what is wrong.
 */

import { join } from "node:path";
import { MAX_DURATION_SECONDS, parseDurationSeconds } from "./duration.ts";
import { RemoteError } from "./errors.ts";
import { MAX_FAN_OUT } from "./limits.ts";
import { isUserName, parseTargetList, type TargetGroups } from "./targets.ts";

export interface SessionsDefaults {
  /** Fan-out of a bare `--parallel`. */
  parallel?: number;
  /** Seconds a command may run on one host. */
  timeout?: number;
  /** Seconds to connect, when ~/.ssh/config sets no ConnectTimeout. */
  connectTimeout?: number;
  /** Remote user when neither the target nor ~/.ssh/config names one. */
  user?: string;
}

export interface SessionsConfig {
  /** The file read (whether or not it exists). */
  path: string;
  defaults: SessionsDefaults;
  groups: TargetGroups;
}

const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** `$XDG_CONFIG_HOME/sessions/config`, or `~/.config/sessions/config` when it is unset or relative. */
export function sessionsConfigPath(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  const base = xdg && xdg.startsWith("/")
    ? xdg
    : join(Deno.env.get("HOME") ?? "/", ".config");
  return join(base, "sessions", "config");
}

function lineError(where: string, message: string): RemoteError {
  return new RemoteError(
    "usage",
    `${where}: ${message}`,
    "fix that line of the sessions config file; the README says how, under Configuration file",
  );
}

function parsePositiveDuration(
  value: string,
  where: string,
  keyword: string,
): number {
  const seconds = parseDurationSeconds(value);
  if (seconds === null || seconds === 0 || seconds > MAX_DURATION_SECONDS) {
    throw lineError(
      where,
      `${keyword} must be a duration above zero and at most 24d, like 30, 30s, 2m or 1h, not '${value}'`,
    );
  }
  return seconds;
}

/** Parses the file's text; `fileName` is used in error messages. */
export function parseSessionsConfig(
  content: string,
  fileName: string,
): SessionsConfig {
  const defaults: SessionsDefaults = {};
  const groups = new Map<string, string>();
  const groupLines = new Map<string, string>();
  const seen = new Map<string, string>();

  content.split("\n").forEach((raw, index) => {
    const where = `${fileName}:${index + 1}`;
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") return;
    const [keyword, ...words] = line.split(/\s+/);
    const value = words.join(" ");
    if (value === "") throw lineError(where, `'${keyword}' needs a value`);
    if (keyword !== "group") {
      const earlier = seen.get(keyword);
      if (earlier !== undefined) {
        throw lineError(where, `'${keyword}' is already set at ${earlier}`);
      }
      seen.set(keyword, where);
    }
    const single = () => {
      if (words.length > 1) {
        throw lineError(where, `'${keyword}' takes one value, got '${value}'`);
      }
      return value;
    };
    switch (keyword) {
      case "parallel": {
        const text = single();
        const count = Number(text);
        if (!/^\d+$/.test(text) || count < 1 || count > MAX_FAN_OUT) {
          throw lineError(
            where,
            `parallel must be a number from 1 to ${MAX_FAN_OUT}, not '${text}'`,
          );
        }
        defaults.parallel = count;
        break;
      }
      case "timeout":
        defaults.timeout = parsePositiveDuration(single(), where, keyword);
        break;
      case "connect-timeout":
        defaults.connectTimeout = parsePositiveDuration(
          single(),
          where,
          keyword,
        );
        break;
      case "user": {
        const user = single();
        if (!isUserName(user)) {
          throw lineError(where, `bad user name '${user}'`);
        }
        defaults.user = user;
        break;
      }
      case "group": {
        const [name, ...members] = words;
        if (!NAME_PATTERN.test(name)) {
          throw lineError(where, `bad group name '${name}'`);
        }
        if (members.length === 0) {
          throw lineError(where, `group '${name}' has no hosts`);
        }
        const earlier = groupLines.get(name);
        if (earlier !== undefined) {
          throw lineError(
            where,
            `group '${name}' is already defined at ${earlier}`,
          );
        }
        groups.set(name, members.join(" "));
        groupLines.set(name, where);
        break;
      }
      default:
        throw lineError(
          where,
          `unknown setting '${keyword}' (known: parallel, timeout, connect-timeout, user, group)`,
        );
    }
  });

  // Every group must expand (members may name groups defined further down).
  for (const [name, where] of groupLines) {
    try {
      parseTargetList(`@${name}`, groups);
    } catch (error) {
      if (error instanceof RemoteError) throw lineError(where, error.message);
      throw error;
    }
  }
  return { path: fileName, defaults, groups };
}

/** Reads the sessions config file (missing: empty configuration). */
export function loadSessionsConfig(
  path: string = sessionsConfigPath(),
): SessionsConfig {
  let content: string;
  try {
    content = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { path, defaults: {}, groups: new Map() };
    }
    throw new RemoteError(
      "usage",
      `cannot read the sessions config file ${path}: ${
        (error as Error).message
      }`,
      "check its permissions",
    );
  }
  return parseSessionsConfig(content, path);
}
