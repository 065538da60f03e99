/**
 * OpenSSH's host patterns (`*`, `?`, `!negation`, comma-separated lists), as
 * used by `Host`, `Match host|user`, and known_hosts name fields. Patterns are
 * compiled once and cached: the same few patterns are tested for every host.
 */

const compiled = new Map<string, RegExp>();

/** A regular expression equal to OpenSSH's match_pattern (`*` any run, `?` one character). */
function patternRegExp(pattern: string): RegExp {
  let regexp = compiled.get(pattern);
  if (regexp === undefined) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*").replace(/\?/g, ".");
    regexp = new RegExp(`^${body}$`, "s");
    compiled.set(pattern, regexp);
  }
  return regexp;
}

/** True when `text` matches one wildcard pattern (case-sensitive, no negation). */
export function matchPattern(text: string, pattern: string): boolean {
  return patternRegExp(pattern).test(text);
}

/**
 * OpenSSH's match_pattern_list: 1 when some sub-pattern matches and no
 * negated one does, -1 when a negated sub-pattern matches, 0 otherwise.
 * With `lowerCase`, `text` is compared in lower case (host names).
 */
export function matchPatternList(
  text: string,
  patternList: string,
  lowerCase: boolean,
): 1 | 0 | -1 {
  const subject = lowerCase ? text.toLowerCase() : text;
  let positive = false;
  for (const raw of patternList.split(",")) {
    const negated = raw.startsWith("!");
    const pattern = lowerCase
      ? (negated ? raw.slice(1) : raw).toLowerCase()
      : (negated ? raw.slice(1) : raw);
    if (matchPattern(subject, pattern)) {
      if (negated) return -1;
      positive = true;
    }
  }
  return positive ? 1 : 0;
}
