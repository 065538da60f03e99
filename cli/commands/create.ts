import { Command } from "@commander-js/extra-typings";
import { backendFlag } from "./backend-option.ts";
import { globalOptions, runCreate } from "../local.ts";

export function createCommand() {
  return new Command("create")
    .description("create a detached session")
    .addOption(backendFlag())
    .argument("<name>", "the session name")
    .option(
      "--shell <shell>",
      "the shell to run (default: $SHELL, else /bin/sh)",
    )
    .option(
      "--directory <dir>",
      "the directory to start in (default: the current one)",
    )
    .option("--attach", "attach to the session right away")
    .action(async (name, options, command) => {
      await runCreate(name, {
        shell: options.shell,
        directory: options.directory,
        attach: options.attach === true,
        ...globalOptions(command),
      });
    });
}
