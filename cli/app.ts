/**
 * The command tree and the one place errors become output and exit codes.
 * Heavy commands (exec, connect) load their implementation lazily, so the
 * local commands never load SSH code.
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import { backendFlag } from "./commands/backend-option.ts";
import { reportError } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";
import { formatError, writeErr, writeOut } from "./output.ts";
import { VERSION } from "./version.ts";
import { listCommand } from "./commands/list.ts";
import { createCommand } from "./commands/create.ts";
import { attachCommand } from "./commands/attach.ts";
import { detachCommand } from "./commands/detach.ts";
import { killCommand } from "./commands/kill.ts";
import { execCommand } from "./commands/exec.ts";
import { connectCommand } from "./commands/connect.ts";
import { completionsCommand } from "./commands/completions.ts";
import { upgradeCommand } from "./commands/upgrade.ts";

export function buildProgram() {
  const program = new Command()
    .name("sessions")
    .description(
      "Manage terminal sessions: tmux, GNU screen and zellij locally, SSH remotely.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .enablePositionalOptions()
    .addOption(
      backendFlag("use only this multiplexer (default: $SESSIONS_BACKEND)"),
    )
    .addCommand(listCommand())
    .addCommand(createCommand())
    .addCommand(attachCommand())
    .addCommand(detachCommand())
    .addCommand(killCommand())
    .addCommand(execCommand())
    .addCommand(connectCommand())
    .addCommand(completionsCommand())
    .addCommand(upgradeCommand());
  configureRecursively(program);
  return program;
}

export type Program = ReturnType<typeof buildProgram>;

/** Commander's own errors, in our one-line format and exit code 2. */
function configureRecursively(
  command: Command<unknown[], Record<string, unknown>, Record<string, unknown>>,
): void {
  command
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      // Help and --version through the same writer as everything else: a
      // closed pipe ends quietly, a full disk is one line, not a bug.
      writeOut: (text) => writeOut(text),
      outputError: (text) => {
        const message = tidyCommanderMessage(text);
        const help = command.parent
          ? `sessions ${command.name()} --help`
          : "sessions --help";
        // A suggestion is already the thing to do.
        const hint = message.includes("(did you mean ")
          ? undefined
          : dashedNameHint(command, message) ?? `see '${help}'`;
        writeErr(formatError(message, hint));
      },
    });
  for (const sub of command.commands) {
    configureRecursively(
      sub as Command<
        unknown[],
        Record<string, unknown>,
        Record<string, unknown>
      >,
    );
  }
}

/**
 * For a command that takes a session NAME, an unknown option may be a name
 * starting with '-': say how to pass it, as the README does.
 */
function dashedNameHint(
  command: {
    name(): string;
    registeredArguments: readonly { name(): string }[];
  },
  message: string,
): string | undefined {
  const option = /^unknown option '(-[^']*)'/.exec(message)?.[1];
  const takesName = command.registeredArguments.some((argument) =>
    argument.name() === "name"
  );
  if (!option || !takesName) return undefined;
  return `if '${option}' is a session name, put -- before it: sessions ${command.name()} -- ${option}`;
}

/** "error: unknown command 'lst'\n(Did you mean list?)" → "unknown command 'lst' (did you mean list?)" */
export function tidyCommanderMessage(text: string): string {
  return text
    .trim()
    .replace(/^error: /, "")
    .replace(/\s*\n\(Did you mean (.*)\?\)$/s, " (did you mean $1?)")
    .replace(/\s*\n/g, " ")
    .replace(/\.$/, "");
}

/** Runs `sessions` with ARGS and resolves to the exit code; never throws. */
export async function run(args: string[]): Promise<number> {
  const program = buildProgram();
  // Commands that finish with a meaningful non-zero status (list, attach, exec, connect) set Deno.exitCode.
  Deno.exitCode = ExitCode.OK;
  try {
    await program.parseAsync(args, { from: "user" });
    return Deno.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every other commander error is a usage error it already printed.
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    return reportError(error);
  }
}
