import { Command } from "@commander-js/extra-typings";
import { backendFlag } from "./backend-option.ts";
import {
  globalOptions,
  type ListOptions,
  type ParsedCommand,
  runList,
} from "../local.ts";

export function listCommand() {
  return new Command("list")
    .description("list sessions of every installed backend")
    .addOption(backendFlag())
    .option("--all", "also list exited zellij and dead screen sessions")
    .option("--json", "print one JSON array (fields in the README)")
    .action(async (_options, command) => {
      Deno.exitCode = await runList(listOptions(command));
    });
}

/** The options `list` runs with; the fast path must produce exactly these. */
export function listOptions(command: ParsedCommand): ListOptions {
  const options: { all?: unknown; json?: unknown } = command.opts();
  return {
    all: options.all === true,
    json: options.json === true,
    ...globalOptions(command),
  };
}
