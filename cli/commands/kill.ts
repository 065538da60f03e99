import { Command } from "@commander-js/extra-typings";
import { backendFlag } from "./backend-option.ts";
import { globalOptions, runKill } from "../local.ts";

export function killCommand() {
  return new Command("kill")
    .description("end a session (exact name only)")
    .addOption(backendFlag())
    .argument("<name>", "the exact session name")
    .action(async (name, _options, command) => {
      await runKill(name, globalOptions(command));
    });
}
