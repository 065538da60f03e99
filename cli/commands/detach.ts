import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function detachCommand() {
  return new Command("detach")
    .description("detach from a session")
    .action(() => {
      throw new CliError("'detach' is not implemented yet");
    });
}
