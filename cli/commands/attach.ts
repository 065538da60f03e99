import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function attachCommand() {
  return new Command("attach")
    .description("attach to a session")
    .action(() => {
      throw new CliError("'attach' is not implemented yet");
    });
}
