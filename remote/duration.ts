import { RemoteError } from "./errors.ts";

const UNIT_SECONDS: Record<string, number> = {
  "": 1,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
};

/**
 * The longest wait `sessions` can time: a timer holds at most 2^31-1 ms
 * (about 24.8 days) and fires at once when given more.
 */
export const MAX_DURATION_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Seconds in a duration written as OpenSSH writes times: `30` (seconds),
 * `30s`, `2m`, `1h`, `1d`, `1w`, and sums like `1m30s`; units in either case.
 * Returns null when the text is not a duration.
 */
export function parseDurationSeconds(text: string): number | null {
  const trimmed = text.trim();
  if (!/^(\d+[smhdwSMHDW]?)+$/.test(trimmed)) return null;
  let total = 0;
  for (const [, digits, unit] of trimmed.matchAll(/(\d+)([smhdwSMHDW]?)/g)) {
    total += Number(digits) * UNIT_SECONDS[unit.toLowerCase()];
  }
  return Number.isSafeInteger(total) ? total : null;
}

/** parseDurationSeconds for a command-line flag: a usage error naming the flag when malformed. */
export function parseDurationFlag(flag: string, text: string): number {
  const seconds = parseDurationSeconds(text);
  if (seconds === null) {
    throw new RemoteError(
      "usage",
      `bad duration '${text}' for ${flag}`,
      "write a number of seconds, or 30s, 2m, 1h",
    );
  }
  if (seconds > MAX_DURATION_SECONDS) {
    throw new RemoteError(
      "usage",
      `duration '${text}' for ${flag} is longer than sessions can wait`,
      "use at most 24d",
    );
  }
  return seconds;
}
