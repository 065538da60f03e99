import { Argument, Command, Option } from "@commander-js/extra-typings";
import { usageError } from "../errors.ts";
import { writeOut } from "../output.ts";
import { type AnyCommand, programSpec } from "../completion/spec.ts";
import {
  completionScript,
  NAMES_KINDS,
  SHELLS,
} from "../completion/scripts.ts";

export function completionsCommand() {
  return new Command("completions")
    .description("print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("[shell]", "the shell").choices(SHELLS))
    // What the scripts call back for live values; not for people.
    .addOption(new Option("--names <kind>").choices(NAMES_KINDS).hideHelp())
    .action(async (shell, options, command) => {
      if (options.names) {
        // Loaded only here: listing sessions and reading SSH files.
        const { names } = await import("../completion/names.ts");
        const values = await names(options.names);
        writeOut(values.map((value) => `${value}\n`).join(""));
        return;
      }
      if (!shell) {
        throw usageError(
          "name the shell to complete for",
          `sessions completions ${SHELLS.join("|")}`,
        );
      }
      const program = command.parent as AnyCommand;
      writeOut(completionScript(shell, programSpec(program)));
    });
}
