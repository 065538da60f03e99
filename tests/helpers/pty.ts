/**
 * A real pseudo-terminal for interactive tests: one pane of a private tmux
 * server running a shell line, typed into with send-keys and read with
 * capture-pane.
 */
import { PrivateTmux } from "./tmux.ts";

export interface PtyOptions {
  /** The shell line the pane runs (through `sh -c`, as tmux does), without TMUX set. */
  command: string;
  cols?: number;
  rows?: number;
  /** Variables for the pane's environment (on top of the test's own). */
  env?: Record<string, string>;
  cwd?: string;
}

const SESSION = "pty";
const TARGET = `=${SESSION}:`;

export class Pty {
  private constructor(readonly tmux: PrivateTmux) {}

  static async start(options: PtyOptions): Promise<Pty> {
    const tmux = await PrivateTmux.create("sessions-pty-");
    const pty = new Pty(tmux);
    try {
      const envArgs = Object.entries(options.env ?? {}).flatMap((
        [key, value],
      ) => ["-e", `${key}=${value}`]);
      // Its own config: no user settings, and the pane stays after its
      // program ends (set before the program starts, however quickly it ends),
      // without tmux's "Pane is dead" line, which could scroll the program's
      // first line off the screen.
      const config = `${tmux.dir}/pty.conf`;
      await Deno.writeTextFile(
        config,
        'set -g remain-on-exit on\nset -g remain-on-exit-format ""\nset -g status off\n',
      );
      await tmux.ok([
        "-f",
        config,
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        String(options.cols ?? 100),
        "-y",
        String(options.rows ?? 30),
        "-c",
        options.cwd ?? Deno.cwd(),
        ...envArgs,
        // To the program the pane is a plain terminal, not a tmux session.
        `unset TMUX TMUX_PANE; ${options.command}`,
      ]);
    } catch (error) {
      await tmux.dispose();
      throw error;
    }
    return pty;
  }

  /** Types TEXT literally (no key names, no command separators). */
  async type(text: string): Promise<void> {
    // A trailing `;` would end the tmux command: send it as its own escaped word.
    const parts = text.split(/(;)/).filter((part) => part !== "");
    for (const part of parts) {
      await this.tmux.ok(
        part === ";"
          ? ["send-keys", "-t", TARGET, "\\;"]
          : ["send-keys", "-t", TARGET, "-l", part],
      );
    }
  }

  /** Presses one key by tmux name: "Enter", "C-c", "Up", … */
  async press(key: string): Promise<void> {
    await this.tmux.ok(["send-keys", "-t", TARGET, key]);
  }

  /** Types LINE and presses Enter. */
  async typeLine(line: string): Promise<void> {
    await this.type(line);
    await this.press("Enter");
  }

  /** The visible screen, wrapped lines joined, trailing blank lines removed. */
  async screen(): Promise<string> {
    const text = await this.tmux.ok(["capture-pane", "-p", "-J", "-t", TARGET]);
    return text.replace(/\s+$/, "");
  }

  /**
   * Polls the screen until it matches; a wait that times out throws with
   * the last screen in the message.
   */
  async waitFor(
    expected: RegExp | ((screen: string) => boolean),
    timeoutMs = 10_000,
  ): Promise<string> {
    const matches = typeof expected === "function"
      ? expected
      : (screen: string) => expected.test(screen);
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (true) {
      last = await this.screen();
      if (matches(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${
            expected instanceof RegExp ? expected : "a condition"
          }; last screen:\n${last}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.tmux.ok([
      "resize-window",
      "-t",
      TARGET,
      "-x",
      String(cols),
      "-y",
      String(rows),
    ]);
  }

  /** The pane program's exit status once it has ended, else null. */
  async exitStatus(): Promise<number | null> {
    const out = await this.tmux.ok([
      "display-message",
      "-p",
      "-t",
      TARGET,
      "#{pane_dead}\t#{pane_dead_status}",
    ]);
    const [dead, status] = out.trim().split("\t");
    // tmux can report the pane dead a moment before it records the status.
    return dead === "1" && status !== "" && status !== undefined
      ? Number(status)
      : null;
  }

  /** Whether the pane's program has ended (its status may come later). */
  async ended(): Promise<boolean> {
    const out = await this.tmux.ok([
      "display-message",
      "-p",
      "-t",
      TARGET,
      "#{pane_dead}",
    ]);
    return out.trim() === "1";
  }

  /** Waits until the pane's program has ended and returns its exit status. */
  async waitForExit(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const status = await this.exitStatus();
      if (status !== null) return status;
      if (Date.now() > deadline) {
        throw new Error(
          `the pane's program did not end within ${timeoutMs} ms; last screen:\n${await this
            .screen()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Ends the pane's server and removes its directory. */
  async dispose(): Promise<void> {
    await this.tmux.dispose();
  }
}
