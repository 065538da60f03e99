import { Command } from "@commander-js/extra-typings";
import { backendFlag } from "./backend-option.ts";
import { globalOptions, runDetach } from "../local.ts";

export function detachCommand() {
  return new Command("detach")
    .description(
      "detach the session you are in, or every client of session NAME",
    )
    .addOption(backendFlag())
    .argument("[name]", "the exact session name (default: the current one)")
    .action(async (name, _options, command) => {
      await runDetach(name, globalOptions(command));
    });
}
