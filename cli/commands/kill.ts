import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function killCommand() {
  return new Command("kill")
    .description("end a session")
    .action(() => {
      throw new CliError("'kill' is not implemented yet");
    });
}
