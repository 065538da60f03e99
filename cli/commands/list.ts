import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function listCommand() {
  return new Command("list")
    .description("list sessions")
    .action(() => {
      throw new CliError("'list' is not implemented yet");
    });
}
