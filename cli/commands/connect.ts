import {
  type Command,
  Command as CommandClass,
} from "@commander-js/extra-typings";
import { backendFlag } from "./backend-option.ts";
import type { BackendName } from "../../backends/types.ts";
import { CliError, usageError } from "../errors.ts";
import { ExitCode } from "../exit-codes.ts";

export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw usageError(
      `invalid --port '${value}'`,
      "give a number from 1 to 65535",
    );
  }
  return Number(value);
}

export interface ConnectFlags {
  user?: string;
  key?: string;
  port?: number;
  F?: string;
  session?: string;
  command?: string;
  forwardAgent?: boolean;
  acceptNew?: boolean;
}

/**
 * The remote multiplexer for --session: `--backend` after `connect`, or
 * the program's `--backend` before it, but only when typed on the command
 * line. SESSIONS_BACKEND describes this machine, not the remote one.
 */
export function remoteBackendChoice(
  own: string | undefined,
  program:
    | Command<unknown[], Record<string, unknown>, Record<string, unknown>>
    | null,
): BackendName | null {
  if (own !== undefined) return own as BackendName;
  if (!program || program.getOptionValueSource("backend") !== "cli") {
    return null;
  }
  return program.opts().backend as BackendName;
}

/** Rejects flag combinations that make no sense, before anything is loaded or connected. */
export function checkConnectFlags(
  flags: ConnectFlags,
  backend: BackendName | null,
): void {
  if (flags.command !== undefined && flags.command.trim() === "") {
    throw usageError(
      "--command is empty",
      "give a command, or leave out --command for a shell",
    );
  }
  if (flags.session !== undefined && flags.command !== undefined) {
    throw usageError(
      "--session and --command cannot be used together",
      "run the command inside the session once attached",
    );
  }
  if (backend !== null && flags.session === undefined) {
    throw usageError(
      "--backend with connect picks the remote multiplexer for --session",
      "add --session NAME, or drop --backend",
    );
  }
}

export function connectCommand() {
  return new CommandClass("connect")
    .description(
      "open an interactive SSH shell (optionally in a remote session)",
    )
    .argument("<host>", "[user@]host[:port] or a Host alias of ~/.ssh/config")
    .option("--user <user>", "log in as this user")
    .option(
      "--key <file>",
      "use this identity file (before the configured ones)",
    )
    .option("--port <port>", "connect to this port", parsePort)
    .option("-F <file>", "read this ssh config file instead of ~/.ssh/config")
    .option(
      "--session <name>",
      "attach to this multiplexer session on the host, creating it if missing",
    )
    .addOption(backendFlag("the remote multiplexer for --session"))
    .option(
      "--command <cmd>",
      "run CMD with a terminal instead of a login shell",
    )
    .option("-A, --forward-agent", "forward the local ssh-agent")
    .option("--accept-new", "record an unknown host key without asking")
    .addHelpText(
      "after",
      `
With --session, --backend tmux|screen|zellij (before or after 'connect')
picks the remote multiplexer; without it the first one the host
has is used, in that order.

Exit status: the remote program's status; 255 when the connection could not
be made or was lost, or a host key or login was refused; 2 for bad usage;
5 when standard input is not a terminal or the host has no multiplexer.`,
    )
    .action(async function (host, flags) {
      const backend = remoteBackendChoice(flags.backend, this.parent);
      checkConnectFlags(flags, backend);
      const { planConnect, runConnect } = await import("../connect-run.ts");
      // A bad host or session name is wrong with or without a terminal: say that first.
      const plan = planConnect({
        host,
        user: flags.user,
        key: flags.key,
        port: flags.port,
        configFile: flags.F,
        session: flags.session === undefined
          ? null
          : { name: flags.session, backend },
        command: flags.command ?? null,
        forwardAgent: flags.forwardAgent === true,
        acceptNew: flags.acceptNew === true,
      });
      if (!Deno.stdin.isTerminal()) {
        const label = plan.target.label;
        // Shown in the hint as typed only when a shell reads it as one plain word.
        const targets = /^[A-Za-z0-9._@:-]+$/.test(label) ? label : "HOST";
        throw new CliError(
          "connect needs a terminal, and standard input is not one",
          ExitCode.UNAVAILABLE,
          `to run a command without one: 'sessions exec --targets ${targets} CMD'`,
        );
      }
      Deno.exitCode = await runConnect(plan);
    });
}
