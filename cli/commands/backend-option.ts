import { Option } from "@commander-js/extra-typings";
import { BACKEND_NAMES } from "../../backends/types.ts";

/**
 * `--backend`, accepted before the command (the program's, which also reads
 * SESSIONS_BACKEND) and after it (the command's own). Options are positional
 * so that a command can have an option the program also has (`upgrade
 * --version V`); the command's copy has no `.env()`, so a typed flag always
 * beats the environment when optsWithGlobals() merges the two.
 */
export function backendFlag(description = "use only this multiplexer") {
  return new Option("--backend <name>", description).choices(BACKEND_NAMES);
}
