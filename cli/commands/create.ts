import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function createCommand() {
  return new Command("create")
    .description("create a detached session")
    .action(() => {
      throw new CliError("'create' is not implemented yet");
    });
}
