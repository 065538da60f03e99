/**
 * A private tmux server for tests: its own TMUX_TMPDIR, so nothing here can
 * reach the user's default server, and `dispose()` ends only this server.
 */

import { type CommandResult, runCommand } from "./command.ts";

export class PrivateTmux {
  /** The socket directory (TMUX_TMPDIR) of this server. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(prefix = "sessions-tmux-"): Promise<PrivateTmux> {
    // Short prefix under /tmp: tmux's socket path must stay under ~107 bytes.
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix });
    return new PrivateTmux(dir);
  }

  /**
   * Environment for a child that must talk to this server only: TMUX_TMPDIR
   * points here and TMUX is removed (set it to "" to stay valid for `env:`),
   * so a test started inside tmux does not leak into the user's server.
   */
  env(): Record<string, string> {
    return { TMUX_TMPDIR: this.dir, TMUX: "" };
  }

  /**
   * Runs `tmux ARGS` against this server. Its panes run /bin/sh unless told
   * otherwise: the user's login shell may start slowly (a .bashrc running
   * pyenv costs seconds of CPU per pane here), which only loads the machine.
   */
  run(args: string[]): Promise<CommandResult> {
    return runCommand("tmux", args, {
      env: { ...this.env(), SHELL: "/bin/sh" },
    });
  }

  /** Like `run`, but throws with tmux's message on a non-zero exit. */
  async ok(args: string[]): Promise<string> {
    const result = await this.run(args);
    if (result.code !== 0) {
      throw new Error(
        `tmux ${args.join(" ")} failed (${result.code}): ${result.stderr}`,
      );
    }
    return result.stdout;
  }

  /** Names of this server's sessions (empty when no server runs). */
  async sessionNames(): Promise<string[]> {
    const result = await this.run(["list-sessions", "-F", "#{session_name}"]);
    if (result.code !== 0) return [];
    return result.stdout.split("\n").filter((line) => line !== "");
  }

  /** Ends this server (if it runs) and removes its socket directory. */
  async dispose(): Promise<void> {
    await this.run(["kill-server"]);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
