/**
 * The local terminal for `connect`: one reader of standard input shared by
 * the prompts and the session, raw mode, the window size and its changes,
 * and a guard that puts the terminal back on every way out (normal end,
 * error, Ctrl-C during the handshake, SIGTERM/SIGHUP).
 */
import type { Prompt } from "../remote/auth.ts";
import type { PtyTerminal, TerminalSize } from "../remote/connect.ts";
import { writeAll } from "./output.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Exit statuses for the signals that end `connect` early: 128 + the signal number. */
export const SIGNAL_EXIT: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 129,
  SIGINT: 130,
  SIGTERM: 143,
};

/**
 * Calls HANDLER with 128 + the signal's number on SIGHUP, SIGINT or
 * SIGTERM (instead of ending the process); returns the listeners, for
 * `stopListening`.
 */
export function listenForExitSignals(
  handler: (status: number) => void,
): [Deno.Signal, () => void][] {
  return Object.entries(SIGNAL_EXIT).map(([signal, status]) => {
    const listener = () => handler(status);
    Deno.addSignalListener(signal as Deno.Signal, listener);
    return [signal as Deno.Signal, listener];
  });
}

export function stopListening(listeners: [Deno.Signal, () => void][]): void {
  for (const [signal, listener] of listeners.splice(0)) {
    Deno.removeSignalListener(signal, listener);
  }
}

/** The user gave up at a prompt (Ctrl-D, end of input). */
export class PromptAborted extends Error {
  constructor() {
    super("aborted at the prompt");
    this.name = "PromptAborted";
  }
}

export class Terminal implements PtyTerminal {
  readonly term: string;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  /** Bytes read but not yet consumed (typed ahead of a prompt's end). */
  private pending: Uint8Array = new Uint8Array(0);
  private raw = false;
  /** Whether a prompt is waiting for the user. */
  private asking = false;
  private readonly signalHandlers: [Deno.Signal, () => void][] = [];
  private closed = false;

  private constructor() {
    this.term = Deno.env.get("TERM") || "xterm";
  }

  /**
   * Takes over standard input (a terminal; check first) and installs the
   * exit guard: a signal restores the terminal and ends the process with
   * 128 + its number, or, with ON_SIGNAL, goes to it (except during a
   * prompt, which always ends at once). In raw mode Ctrl-C is a byte for
   * the remote side.
   */
  static open(onSignal?: (status: number) => void): Terminal {
    const terminal = new Terminal();
    terminal.signalHandlers.push(
      ...listenForExitSignals((status) =>
        onSignal && !terminal.asking
          ? onSignal(status)
          : terminal.exitNow(status)
      ),
    );
    return terminal;
  }

  size(): TerminalSize {
    try {
      const { columns, rows } = Deno.consoleSize();
      return { rows, cols: columns };
    } catch {
      return { rows: 24, cols: 80 };
    }
  }

  onResize(listener: (size: TerminalSize) => void): () => void {
    const handler = () => listener(this.size());
    Deno.addSignalListener("SIGWINCH", handler);
    return () => Deno.removeSignalListener("SIGWINCH", handler);
  }

  async read(): Promise<Uint8Array | null> {
    if (this.pending.length > 0) {
      const bytes = this.pending;
      this.pending = new Uint8Array(0);
      return bytes;
    }
    if (this.closed) return null;
    this.reader ??= Deno.stdin.readable.getReader();
    const { value, done } = await this.reader.read();
    return done || this.closed ? null : value;
  }

  write(bytes: Uint8Array): void {
    writeAll(Deno.stdout, bytes);
  }

  /** Writes TEXT for the user to see before or after the session (stderr, as ssh does). */
  say(text: string): void {
    writeAll(Deno.stderr, encoder.encode(this.raw ? toCrLf(text) : text));
  }

  setRaw(raw: boolean): void {
    if (this.raw === raw) return;
    Deno.stdin.setRaw(raw);
    this.raw = raw;
  }

  /** Asks QUESTION and returns the line typed (echoed), without its newline. */
  async ask(question: string): Promise<string> {
    this.say(question);
    this.asking = true;
    try {
      return await this.readLine(false);
    } finally {
      this.asking = false;
    }
  }

  /** Asks QUESTION and returns what is typed without echoing it. */
  async askSecret(question: string): Promise<string> {
    this.say(question);
    const wasRaw = this.raw;
    this.setRaw(true);
    this.asking = true;
    try {
      return await this.readLine(true);
    } finally {
      this.asking = false;
      this.setRaw(wasRaw);
      this.say("\n");
    }
  }

  /** The prompt remote/auth.ts asks through: null when the user gives up. */
  readonly prompt: Prompt = async (message, { echo }) => {
    try {
      return echo ? await this.ask(message) : await this.askSecret(message);
    } catch (error) {
      if (error instanceof PromptAborted) return null;
      throw error;
    }
  };

  /**
   * One line: in cooked mode the terminal edits it; in raw mode (secrets)
   * this does: backspace, Ctrl-U, Ctrl-D to give up, Ctrl-C to quit.
   */
  private async readLine(raw: boolean): Promise<string> {
    let line: number[] = [];
    while (true) {
      const bytes = await this.read();
      if (bytes === null) throw new PromptAborted();
      for (let i = 0; i < bytes.length; i++) {
        const byte = bytes[i];
        if (byte === 0x0d || byte === 0x0a) {
          this.pending = bytes.slice(i + 1);
          return decoder.decode(new Uint8Array(line));
        }
        // Raw mode turned Ctrl-C into a byte: end as the signal would have.
        if (raw && byte === 0x03) this.exitNow(SIGNAL_EXIT.SIGINT!);
        if (raw && byte === 0x04 && line.length === 0) {
          throw new PromptAborted();
        }
        if (raw && (byte === 0x7f || byte === 0x08)) {
          // Drop one character, not one byte, of UTF-8.
          do line.pop(); while (
            line.length > 0 && (line[line.length - 1] & 0xc0) === 0x80
          );
        } else if (raw && byte === 0x15) line = [];
        else line.push(byte);
      }
    }
  }

  /** Ends the process with STATUS after putting the terminal back. */
  exitNow(status: number): never {
    try {
      this.say("\n");
    } catch { /* the terminal is gone (SIGHUP) */ }
    this.restore();
    Deno.exit(status);
  }

  /**
   * Leaves raw mode, stops reading standard input and removes the signal
   * listeners; safe to call more than once.
   */
  restore(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.setRaw(false);
    } catch { /* standard input already gone */ }
    this.reader?.cancel().catch(() => {});
    this.reader = null;
    stopListening(this.signalHandlers);
  }
}

/** Raw mode turns off output post-processing: a bare "\n" would not return the cursor. */
function toCrLf(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}
