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

export function writeOut(text: string): void {
  writeAll(Deno.stdout, text);
}

export function writeErr(text: string): void {
  writeAll(Deno.stderr, text);
}

function writeAll(stream: Stream, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += stream.writeSync(bytes.subarray(written));
  }
}

/** The one-line error format: `sessions: MESSAGE (HINT)`. */
export function formatError(message: string, hint?: string): string {
  const prefix = paint("sessions:", "red", Deno.stderr);
  return hint ? `${prefix} ${message} (${hint})\n` : `${prefix} ${message}\n`;
}
