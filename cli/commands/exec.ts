import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function execCommand() {
  return new Command("exec")
    .description("run a command on many hosts over SSH")
    .action(() => {
      throw new CliError("'exec' is not implemented yet");
    });
}
