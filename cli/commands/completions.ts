import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function completionsCommand() {
  return new Command("completions")
    .description("print a shell completion script")
    .action(() => {
      throw new CliError("'completions' is not implemented yet");
    });
}
