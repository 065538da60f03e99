import { Command } from "@commander-js/extra-typings";
import { backendFlag } from "./backend-option.ts";
import { globalOptions, runAttach } from "../local.ts";

export function attachCommand() {
  return new Command("attach")
    .description(
      "attach this terminal to a session (inside tmux or zellij: switch to it)",
    )
    .addOption(backendFlag())
    .argument("<name>", "the exact session name")
    .option("--create", "create the session first if it does not exist")
    .action(async (name, options, command) => {
      await runAttach(name, {
        create: options.create === true,
        ...globalOptions(command),
      });
    });
}
