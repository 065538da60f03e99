/**
 * A private GNU screen socket directory for tests: its own SCREENDIR (mode
 * 700), so nothing here can reach the user's sessions, and `dispose()` ends
 * only the sessions listed in it, by PID.NAME.
 */
import { type ProcessRunner, systemRunner } from "../../backends/process.ts";
import { parseScreenList, type ScreenEntry } from "../../backends/screen.ts";

const decoder = new TextDecoder();

export class PrivateScreen {
  private constructor(readonly dir: string) {}

  /** PREFIX lets a test make the socket path long on purpose. */
  static async create(prefix = "scr-"): Promise<PrivateScreen> {
    // Short, under /tmp: screen's socket path must stay under ~107 bytes.
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix });
    await Deno.chmod(dir, 0o700);
    return new PrivateScreen(dir);
  }

  /**
   * Environment for a child that must use this directory only. STY and TMUX
   * are blanked so a test started inside screen or tmux behaves as outside.
   */
  env(): Record<string, string> {
    return { SCREENDIR: this.dir, STY: "", TMUX: "" };
  }

  /**
   * The system runner, confined to this directory; OVERRIDES replace what
   * `env()` reports (e.g. STY, to play "inside that session").
   */
  runner(overrides: Record<string, string | undefined> = {}): ProcessRunner {
    const variables: Record<string, string | undefined> = {
      SCREENDIR: this.dir,
      STY: undefined,
      TMUX: undefined,
      ...overrides,
    };
    return {
      ...systemRunner,
      run: (command, args, options) =>
        systemRunner.run(command, args, {
          ...options,
          env: { ...options?.env, SCREENDIR: this.dir, STY: undefined },
        }),
      interactive: (command, args, options) =>
        systemRunner.interactive(command, args, {
          ...options,
          env: { ...options?.env, SCREENDIR: this.dir, STY: undefined },
        }),
      env: (name) => name in variables ? variables[name] : Deno.env.get(name),
    };
  }

  /** Runs `screen ARGS` against this directory. */
  async screen(args: string[]): Promise<string> {
    const output = await new Deno.Command("screen", {
      args,
      env: { ...this.env(), LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return decoder.decode(output.stdout) + decoder.decode(output.stderr);
  }

  /** Every socket in this directory, dead ones included. */
  async entries(): Promise<ScreenEntry[]> {
    const output = await this.screen(["-ls"]);
    const listing = parseScreenList(output);
    if (!listing) throw new Error(`screen -ls failed: ${output}`);
    return listing.entries;
  }

  async names(): Promise<string[]> {
    return (await this.entries()).map((entry) => entry.name).sort();
  }

  /**
   * Ends every session in this directory by PID.NAME, wipes its dead
   * sockets, removes it, and returns the PIDs still alive afterwards (a
   * test asserts that list is empty).
   */
  async dispose(): Promise<number[]> {
    const entries = await this.entries().catch(() => []);
    for (const entry of entries) {
      if (entry.state !== "dead") {
        await this.screen(["-S", entry.id, "-X", "quit"]);
      }
    }
    await this.screen(["-wipe"]);
    const alive: number[] = [];
    for (const entry of entries) {
      if (await processAlive(entry.pid)) alive.push(entry.pid);
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    return alive;
  }
}

/** The shell a session's process started (its first child), from /proc. */
export async function sessionShellPid(sessionPid: number): Promise<number> {
  const children = await Deno.readTextFile(
    `/proc/${sessionPid}/task/${sessionPid}/children`,
  );
  return Number(children.trim().split(" ")[0]);
}

/**
 * Makes SESSIONPID's session dead as a crash would: SIGKILL to screen's
 * process, and to its orphaned shell (ours to end too, or it would linger).
 */
export async function killSessionProcess(sessionPid: number): Promise<void> {
  const shell = await sessionShellPid(sessionPid);
  Deno.kill(sessionPid, "SIGKILL");
  Deno.kill(shell, "SIGKILL");
}

/**
 * Whether PID still runs; a session's process can take a moment to go after
 * `quit` (on a loaded machine, more than a second: it hangs up its windows'
 * programs first), so this waits up to 5 s before saying it still runs.
 */
export async function processAlive(pid: number): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      // A zombie (state Z) has ended; its parent just has not reaped it yet.
      if (/^\d+ \(.*\) Z/s.test(stat)) return false;
    } catch {
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
