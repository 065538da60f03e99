/** Where text goes and whether it is coloured: colour only on a terminal, never with NO_COLOR set. */

const encoder = new TextEncoder();

export type Stream = typeof Deno.stdout | typeof Deno.stderr;

export function colorEnabled(stream: Stream): boolean {
  const noColor = Deno.env.get("NO_COLOR");
  return (noColor === undefined || noColor === "") && stream.isTerminal();
}

const SGR = {
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  dim: 2,
  bold: 1,
} as const;
export type Style = keyof typeof SGR;

export function paint(text: string, style: Style, stream: Stream): string {
  return colorEnabled(stream) ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
}

let stdoutClosed: (() => void) | null = null;
let stdoutGone = false;

/**
 * What to do when standard output's reader goes away, instead of ending the
 * process: exec stops its remote commands first. Later output is dropped.
 */
export function onStdoutClosed(handler: () => void): void {
  stdoutClosed = handler;
}

/** The OS's own words from a Deno error: "Not a directory (os error 20): stat '/x'" gives "Not a directory". */
export function osReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\).*$/s, "");
}

/** Standard output could not be written (a full disk, an I/O error): the system's failure, not a bug. */
export class OutputWriteError extends Error {
  readonly hint = "check where standard output goes, e.g. the free space";

  constructor(cause: unknown) {
    super(`cannot write to standard output: ${osReason(cause)}`);
    this.name = "OutputWriteError";
  }
}

/**
 * Standard output. When its reader goes away (`sessions list | head`), end
 * at once and quietly with 1, as a tool killed by SIGPIPE would; when it
 * cannot take the output (`>/dev/full`), throw OutputWriteError. With an
 * `onStdoutClosed` handler (exec), call it instead, after saying why in the
 * second case; later output is dropped.
 */
export function writeOut(output: string | readonly Uint8Array[]): void {
  if (stdoutGone) return;
  try {
    writeText(Deno.stdout, output);
  } catch (error) {
    stdoutGone = true;
    const readerGone = error instanceof Deno.errors.BrokenPipe;
    if (stdoutClosed === null) {
      if (readerGone) Deno.exit(1);
      throw new OutputWriteError(error);
    }
    if (!readerGone) {
      const failure = new OutputWriteError(error);
      writeErr(formatError(failure.message, failure.hint));
    }
    stdoutClosed();
  }
}

/** Whether standard output is gone (closed by its reader, or failing): nothing more goes there. */
export function isStdoutGone(): boolean {
  return stdoutGone;
}

export function writeErr(output: string | readonly Uint8Array[]): void {
  writeText(Deno.stderr, output);
}

/** A string (encoded as UTF-8) or byte parts, written in order. */
function writeText(stream: Stream, output: string | readonly Uint8Array[]) {
  if (typeof output === "string") writeAll(stream, encoder.encode(output));
  else for (const bytes of output) writeAll(stream, bytes);
}

/** Writes all of BYTES, however many writes the stream or file needs. */
export function writeAll(
  stream: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let written = 0;
  while (written < bytes.length) {
    written += stream.writeSync(bytes.subarray(written));
  }
}

/** TEXT as one single-quoted word for a POSIX shell. */
export function singleQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The one-line error format: `sessions: MESSAGE (HINT)`. */
export function formatError(message: string, hint?: string): string {
  const prefix = paint("sessions:", "red", Deno.stderr);
  const text = hint ? `${message} (${hint})` : message;
  // A name with a newline or escape sequence must not break the one line.
  return `${prefix} ${escapeControl(text)}\n`;
}

/**
 * Characters that would act on a terminal rather than show: C0, DEL and C1
 * controls, line and paragraph separators, and the bidirectional marks,
 * embeddings, overrides and isolates (U+202E could make a row read as
 * another name).
 */
const UNSAFE_TO_SHOW =
  /[\p{Cc}\p{Zl}\p{Zp}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/** TEXT with such characters shown as `\t`, `\n`, `\xNN` or `\u{NNNN}`. */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE_TO_SHOW, (char) => {
    if (char === "\t") return "\\t";
    if (char === "\n") return "\\n";
    const code = char.codePointAt(0)!;
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u{${code.toString(16)}}`;
  });
}

/** Display width of TEXT, counting East Asian wide characters as two columns. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    width += WIDE.test(char) ? 2 : 1;
  }
  return width;
}

/** East Asian wide ranges, and emoji that terminals draw two columns wide. */
const WIDE =
  /\p{Emoji_Presentation}|[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;

/**
 * Left-aligned columns separated by two spaces, the header first; trailing
 * spaces trimmed. STYLE_HEADER paints the header row.
 */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  styleHeader: (text: string) => string = (text) => text,
): string {
  const widths = header.map((title, column) =>
    Math.max(
      displayWidth(title),
      ...rows.map((row) => displayWidth(row[column] ?? "")),
    )
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) =>
      column === cells.length - 1
        ? cell
        : cell + " ".repeat(widths[column] - displayWidth(cell))
    ).join("  ").trimEnd();
  return [styleHeader(line(header)), ...rows.map(line)].join("\n") + "\n";
}
