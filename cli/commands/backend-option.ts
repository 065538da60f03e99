import { Option } from "@commander-js/extra-typings";
import { BACKEND_NAMES } from "../../backends/types.ts";

/**
 * `--backend`, accepted before the command (the program's) and after it
 * (the command's own). Options are positional so that a command can have an
 * option the program also has (`upgrade --version V`). SESSIONS_BACKEND is
 * read by the local commands themselves (cli/local.ts), not by commander, so
 * a bad value cannot break `--help`, exec or connect.
 */
export function backendFlag(description = "use only this multiplexer") {
  return new Option("--backend <name>", description).choices(BACKEND_NAMES);
}
