/**
 * The command tree as completion scripts need it, read from commander's own
 * objects (so a new command or flag appears in every script without an edit
 * here). What a value means (a file, a host, a live session) comes from its
 * placeholder name, plus the one fact commander cannot hold: which commands'
 * NAME argument is an existing session.
 */
import type { Command, Option } from "@commander-js/extra-typings";

// deno-lint-ignore no-explicit-any
export type AnyCommand = Command<any, any, any>;

export type ValueKind =
  | { type: "choices"; words: readonly string[] }
  | { type: "file" }
  | { type: "directory" }
  /** Hosts from ~/.ssh/config and known_hosts. */
  | { type: "host" }
  /** Live sessions of every backend. */
  | { type: "session" }
  /** Free text: nothing to offer. */
  | { type: "none" };

export interface OptionSpec {
  long: string | null;
  short: string | null;
  description: string;
  /** Null for a flag without a value. */
  value: ValueKind | null;
  /** The value may be left out (commander's `[value]`). */
  optionalValue: boolean;
}

export interface ArgumentSpec {
  name: string;
  variadic: boolean;
  value: ValueKind;
}

export interface CommandSpec {
  name: string;
  description: string;
  /** Its own options, then the program's options that apply anywhere (e.g. --backend). */
  options: OptionSpec[];
  arguments: ArgumentSpec[];
}

export interface ProgramSpec {
  name: string;
  options: OptionSpec[];
  commands: CommandSpec[];
}

/** Commands whose NAME argument is an existing session (create's is a new one). */
const EXISTING_SESSION_COMMANDS = new Set(["attach", "detach", "kill"]);

/** Placeholder names (`<file>`, `<host>`, …) that say what a value is. */
const PLACEHOLDER_KINDS: Record<string, ValueKind> = {
  file: { type: "file" },
  shell: { type: "file" },
  dir: { type: "directory" },
  directory: { type: "directory" },
  host: { type: "host" },
  // --targets and --exclude take comma-separated host lists.
  list: { type: "host" },
};

function kindOf(
  placeholder: string,
  choices: readonly string[] | undefined,
): ValueKind {
  if (choices && choices.length > 0) return { type: "choices", words: choices };
  return PLACEHOLDER_KINDS[placeholder] ?? { type: "none" };
}

function optionSpec(option: Option): OptionSpec {
  const takesValue = option.required || option.optional;
  const placeholder = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? "";
  return {
    long: option.long ?? null,
    short: option.short ?? null,
    description: option.description,
    value: takesValue ? kindOf(placeholder, option.argChoices) : null,
    optionalValue: option.optional,
  };
}

export function programSpec(program: AnyCommand): ProgramSpec {
  const help = program.createHelp();
  return {
    name: program.name(),
    options: help.visibleOptions(program).map(optionSpec),
    commands: help.visibleCommands(program)
      .filter((command) => command.name() !== "help")
      .map((command) => ({
        name: command.name(),
        description: command.description(),
        // Options are positional: after a command only its own are accepted.
        options: help.visibleOptions(command as AnyCommand).map(optionSpec),
        arguments: command.registeredArguments.map((argument) => ({
          name: argument.name(),
          variadic: argument.variadic,
          value: argument.name() === "name" &&
              EXISTING_SESSION_COMMANDS.has(command.name())
            ? { type: "session" }
            : kindOf(argument.name(), argument.argChoices),
        })),
      })),
  };
}

/** Every spelling of an option: `--long`, `-s`. */
export function optionWords(option: OptionSpec): string[] {
  return [option.long, option.short].filter((word): word is string =>
    word !== null
  );
}
