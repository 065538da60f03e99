/**
 * `sessions list` without loading commander: loading it costs about as much
 * as starting Deno, and `list` should be about as quick as that. This
 * recogniser accepts only argument lists it can parse exactly as commander
 * would; everything else (help, typos, other commands) goes the normal way.
 * Keep it free of commander and of remote/ (a test checks its imports).
 */
import { BACKEND_NAMES } from "../backends/types.ts";
import { reportError } from "./errors.ts";
import { backendOption, type ListOptions, runList } from "./local.ts";

/**
 * The options of `list [--all] [--json] [--backend NAME]` (with `--backend`
 * also before `list`, as commander accepts it), or null for anything else.
 * BACKEND_ENV is SESSIONS_BACKEND, used when no `--backend` is given.
 */
export function parseFastList(
  argv: readonly string[],
  backendEnv: string | undefined,
): ListOptions | null {
  let listSeen = false;
  let all = false;
  let json = false;
  const backends: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "list" && !listSeen) listSeen = true;
    else if (arg === "--all" && listSeen) all = true;
    else if (arg === "--json" && listSeen) json = true;
    else if (arg === "--backend" && i + 1 < argv.length) {
      backends.push(argv[++i]);
    } else if (arg.startsWith("--backend=")) {
      backends.push(arg.slice("--backend=".length));
    } else return null;
  }
  if (!listSeen) return null;
  // The last --backend wins, else the variable. A bad value is commander's
  // (or, for the variable, the list command's) to report.
  const valid = (value: string) => BACKEND_NAMES.some((name) => name === value);
  if (!backends.every(valid)) return null;
  if (backends.length === 0 && backendEnv && !valid(backendEnv)) return null;
  const chosen = backends.length > 0
    ? backends[backends.length - 1]
    : backendEnv;
  return { all, json, backend: backendOption(chosen) };
}

/** Runs `list` when ARGV is one the fast path knows; null means "use commander". */
export async function runFastPath(
  argv: readonly string[],
): Promise<number | null> {
  const options = parseFastList(argv, Deno.env.get("SESSIONS_BACKEND"));
  if (options === null) return null;
  try {
    return await runList(options);
  } catch (error) {
    return reportError(error);
  }
}
