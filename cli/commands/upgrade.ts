import { Command } from "@commander-js/extra-typings";
import { CliError } from "../errors.ts";

export function upgradeCommand() {
  return new Command("upgrade")
    .description("replace this binary with a release")
    .action(() => {
      throw new CliError("'upgrade' is not implemented yet");
    });
}
