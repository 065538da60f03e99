import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function connectCommand() {
  return new Command("connect")
    .description("open an interactive SSH shell")
    .action(() => {
      throw new CliError("'connect' is not implemented yet");
    });
}
