/**
 * `sessions exec`: only the option definitions live here. The implementation
 * (and with it ssh2) is imported when the command runs, so local commands
 * never load SSH code.
 */
import { Command, Option } from "@commander-js/extra-typings";
import { usageError } from "../errors.ts";
import { MAX_FAN_OUT } from "../../remote/limits.ts";

/** A repeated option's values, in order (`--exclude a --exclude b`), as pdsh's -w and -x. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Fan-out of `--parallel` without a number, when the config file sets no `parallel`. */
export const DEFAULT_FAN_OUT = 64;

export function execCommand() {
  return new Command("exec")
    .description("run a command on many hosts over SSH")
    .argument(
      "[command...]",
      "the remote command: quote it, or put it after -- (words are joined with spaces, as ssh does)",
    )
    .option(
      "--targets <list>",
      "hosts: user@host:port, web[01-10], @group, comma-separated (repeatable)",
      collect,
    )
    .option(
      "--targets-file <file>",
      "read targets from FILE, one per line; - for standard input (repeatable)",
      collect,
    )
    .option(
      "--exclude <list>",
      "leave out these targets (same syntax; repeatable)",
      collect,
    )
    .option(
      "--parallel [n]",
      `run on N hosts at once (default ${DEFAULT_FAN_OUT}); without it, one host after another`,
      parseParallel,
    )
    .option(
      "--timeout <duration>",
      "stop the command on a host after 30, 30s, 2m",
    )
    .option(
      "--connect-timeout <duration>",
      "give up connecting to a host after this long (default 10s)",
    )
    .option("--user <user>", "log in as USER on every host")
    .option(
      "--key <file>",
      "try this private key first, as ssh -i does",
    )
    .option("--port <port>", "connect to this port on every host", parsePort)
    .option("-F <file>", "read this ssh config file instead of ~/.ssh/config")
    .option("--ask-pass", "ask one password for all hosts")
    .option("--accept-new", "record the keys of hosts seen for the first time")
    .option(
      "--no-host-key-check",
      "do not check host keys at all (says so on every run)",
    )
    .addOption(
      new Option("--output <mode>", "lines (default) or blocks")
        .choices(["lines", "blocks"] as const),
    )
    .addOption(
      new Option("--gather", "group hosts with identical output")
        .conflicts(["output", "json"]),
    )
    .addOption(
      new Option("--json", "one JSON object per host, nothing else on stdout")
        .conflicts(["output"]),
    )
    .addOption(
      new Option(
        "--outdir <dir>",
        "write DIR/HOST.stdout, .stderr, .status instead of printing output",
      ).conflicts(["output", "gather", "json"]),
    )
    .action(async (words, parsed) => {
      // `--parallel 'uname -n'`: commander hands the command to the optional value.
      const { parallel, ...rest } = parsed;
      const commandWords = typeof parallel === "string"
        ? [parallel, ...words]
        : words;
      if (commandWords.length === 0) {
        throw usageError(
          "no command given",
          "sessions exec --targets LIST CMD",
        );
      }
      const flags = {
        ...rest,
        parallel: typeof parallel === "string" ? true as const : parallel,
      };
      const { runExec } = await import("../exec.ts");
      await runExec(commandWords.join(" "), flags);
    });
}

type ParsedFlags = ReturnType<ReturnType<typeof execCommand>["opts"]>;

export type ExecFlags = Omit<ParsedFlags, "parallel"> & {
  /** A fan-out, true for the default one, undefined for one host at a time. */
  parallel?: number | true;
};

/** A commander parser for a whole number in [MIN, MAX]; a usage error naming FLAG otherwise. */
function wholeNumber(flag: string, min: number, max: number, hint: string) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) {
      throw usageError(`invalid ${flag} '${value}'`, hint);
    }
    return n;
  };
}

const parseFanOut = wholeNumber(
  "--parallel",
  1,
  MAX_FAN_OUT,
  `give a whole number from 1 to ${MAX_FAN_OUT}, or no number for the default`,
);

/**
 * `--parallel N`; a value that does not start with a digit (or a minus and a
 * digit, a negative number) is the command's first word (returned as is),
 * since an optional value takes the next word.
 */
function parseParallel(value: string): number | string {
  return /^-?\d/.test(value) ? parseFanOut(value) : value;
}

const parsePort = wholeNumber(
  "--port",
  1,
  65535,
  "give a number from 1 to 65535",
);
