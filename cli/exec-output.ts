/**
 * How `sessions exec` turns per-host output and results into text: pure
 * functions and small buffers, no I/O, so every format is tested without SSH.
 */
import { createHash } from "node:crypto";
import type { ExecResult } from "../remote/exec.ts";
import { foldHosts } from "../remote/targets.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import type { Style } from "./output.ts";

export type OutputStream = "stdout" | "stderr";

/** What one host's run came to (the engine's result, without its position). */
export type HostOutcome = Omit<ExecResult, "index">;

/** Applies a style, or returns the text unchanged when colour is off. */
export type Painter = (text: string, style: Style) => string;
export const noPaint: Painter = (text) => text;

/**
 * Longer lines are cut into lines of this many bytes, so a host printing
 * endless text without newlines cannot grow memory unbounded.
 */
export const MAX_LINE_BYTES = 64 * 1024;

const NEWLINE = 0x0a;
const NEWLINE_BYTES = Uint8Array.of(NEWLINE);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Collects the bytes of one host's stream and hands out only complete lines,
 * as bytes (never decoded: output that is not UTF-8 passes through).
 */
export class LineBuffer {
  #pending: Uint8Array = new Uint8Array(0);

  /**
   * The complete lines CHUNK finishes (with what was pending before it),
   * each after PREFIX and ending in a newline, in one buffer to write at
   * once; the rest waits for the next chunk. Bytes are copied, never
   * decoded. One pass to size, one to copy: a view or array entry per line
   * made millions of short-lived objects for output like `yes`, and with
   * the small young generation of scripts/runtime-flags.ts the collector
   * copied them again and again (5x slower).
   */
  push(chunk: Uint8Array, prefix: Uint8Array): Uint8Array {
    const bytes = this.#pending.length === 0
      ? chunk
      : concatBytes([this.#pending, chunk]);
    let lines = 0;
    let newlines = 0;
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === NEWLINE) {
        lines++;
        newlines++;
        start = i + 1;
      } else if (i - start === MAX_LINE_BYTES) {
        lines++;
        start = i;
      }
    }
    const out = new Uint8Array(
      start - newlines + lines * (prefix.length + 1),
    );
    let at = 0;
    let lineStart = -1;
    for (let i = 0; i < start; i++) {
      const byte = bytes[i];
      if (
        lineStart !== -1 && byte !== NEWLINE && i - lineStart === MAX_LINE_BYTES
      ) {
        out[at++] = NEWLINE;
        lineStart = -1;
      }
      if (lineStart === -1) {
        out.set(prefix, at);
        at += prefix.length;
        lineStart = i;
      }
      out[at++] = byte;
      if (byte === NEWLINE) lineStart = -1;
    }
    // The last line was cut at MAX_LINE_BYTES: its newline comes before a
    // byte this chunk does not copy (it starts the next line).
    if (lineStart !== -1) out[at++] = NEWLINE;
    // A copy, so the caller may reuse its chunk buffer (a Buffer's slice()
    // would be a view).
    this.#pending = new Uint8Array(bytes.subarray(start));
    return out;
  }

  /** The last line after PREFIX, when the stream ended without a newline; else nothing. */
  flush(prefix: Uint8Array): Uint8Array {
    if (this.#pending.length === 0) return new Uint8Array(0);
    const rest = this.#pending;
    this.#pending = new Uint8Array(0);
    return concatBytes([prefix, rest, NEWLINE_BYTES]);
  }
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * How much of each stream of one host the buffered modes (blocks, gather,
 * json) keep; the rest is dropped and the host marked. Without a cap, one
 * `cat` of a large file filled memory, and a JSON record past V8's longest
 * string (2^29 characters) ended the run in an internal error. JSON may
 * escape a byte into six characters (`\u0000`), and both streams share one
 * record: 2 × 6 × 32 MiB stays under that length. Lines mode and --outdir
 * stream the output and keep all of it.
 */
export const BUFFERED_STREAM_LIMIT = 32 * 1024 * 1024;

/** BUFFERED_STREAM_LIMIT in words, for messages. */
export const BUFFERED_STREAM_LIMIT_TEXT = `${
  BUFFERED_STREAM_LIMIT / (1024 * 1024)
} MiB`;

/** One host's output in the buffered modes: each stream up to LIMIT bytes. */
export class CappedOutput {
  readonly #chunks: Uint8Array[][] = [[], []];
  readonly #sizes = [0, 0];
  #truncated = false;

  constructor(private readonly limit = BUFFERED_STREAM_LIMIT) {}

  push(stream: OutputStream, chunk: Uint8Array): void {
    const which = stream === "stdout" ? 0 : 1;
    const room = this.limit - this.#sizes[which];
    if (chunk.length > room) this.#truncated = true;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length === 0) return;
    // A copy: ssh2 may reuse its buffers (and a Buffer's slice() is a view).
    this.#chunks[which].push(new Uint8Array(kept));
    this.#sizes[which] += kept.length;
  }

  collect(outcome: HostOutcome): CollectedOutput {
    return {
      outcome,
      stdout: concatBytes(this.#chunks[0]),
      stderr: concatBytes(this.#chunks[1]),
      truncated: this.#truncated,
    };
  }
}

const HOST_COLORS: readonly Style[] = [
  "cyan",
  "green",
  "yellow",
  "blue",
  "magenta",
];

/** The same host gets the same colour in every run (a hash of its label). */
export function hostColor(label: string): Style {
  let hash = 0;
  for (let i = 0; i < label.length; i++) {
    hash = (hash * 31 + label.charCodeAt(i)) >>> 0;
  }
  return HOST_COLORS[hash % HOST_COLORS.length];
}

/**
 * Lines mode: `LABEL  | text` for standard output and `LABEL  ! text` for
 * standard error, labels padded to the longest label of the run so the text
 * lines up.
 */
export class LinePrefixer {
  readonly #prefixes = new Map<string, Uint8Array>();

  constructor(
    private readonly width: number,
    private readonly paint: Painter,
  ) {}

  static forLabels(labels: readonly string[], paint: Painter): LinePrefixer {
    const width = labels.reduce((max, label) => Math.max(max, label.length), 0);
    return new LinePrefixer(width, paint);
  }

  /** TEXT as one line after the host's prefix. */
  line(label: string, stream: OutputStream, text: string): Uint8Array {
    return concatBytes([
      this.prefix(label, stream),
      encoder.encode(text),
      NEWLINE_BYTES,
    ]);
  }

  /** `LABEL   | ` or `LABEL   ! `, made once per host and stream. */
  prefix(label: string, stream: OutputStream): Uint8Array {
    const key = `${stream}\0${label}`;
    let prefix = this.#prefixes.get(key);
    if (prefix === undefined) {
      const padded = label.padEnd(this.width);
      const marker = stream === "stdout" ? "|" : this.paint("!", "red");
      prefix = encoder.encode(
        `${this.paint(padded, hostColor(label))} ${marker} `,
      );
      this.#prefixes.set(key, prefix);
    }
    return prefix;
  }
}

/** `exit 0`, `signal KILL`, `timed out: …`, `unreachable: …`. */
export function describeStatus(outcome: HostOutcome): string {
  if (outcome.error) {
    const what = outcome.error.kind === "timeout"
      ? "timed out"
      : outcome.error.kind;
    return `${what}: ${errorText(outcome.error)}`;
  }
  if (outcome.signal !== null) return `signal ${outcome.signal}`;
  return `exit ${outcome.exitCode}`;
}

/** The error's message, with its hint (what to do) in parentheses. */
export function errorText(error: NonNullable<HostOutcome["error"]>): string {
  return error.hint ? `${error.message} (${error.hint})` : error.message;
}

/** The status of a block or group: the host's status, and whether its output was cut. */
function collectedStatus(entry: CollectedOutput): string {
  const status = describeStatus(entry.outcome);
  return entry.truncated
    ? `${status}; output cut at ${BUFFERED_STREAM_LIMIT_TEXT}`
    : status;
}

function succeeded(outcome: HostOutcome): boolean {
  return outcome.error === null && outcome.signal === null &&
    outcome.exitCode === 0;
}

/** `--- HOSTS (STATUS) ---`, the header of a block or a gathered group. */
export function formatHeader(
  hosts: string,
  status: string,
  ok: boolean,
  paint: Painter,
): string {
  const statusText = paint(status, ok ? "green" : "red");
  return `${paint("---", "dim")} ${paint(hosts, "bold")} (${statusText}) ${
    paint("---", "dim")
  }\n`;
}

/**
 * The body of a block, as bytes: standard output exactly as it came (a
 * newline added when it does not end with one), then standard error with
 * each line marked `! `. Nothing is decoded, so output that is not UTF-8
 * passes through unchanged, and a large output is not copied into a string.
 */
export function formatBody(
  stdout: Uint8Array,
  stderr: Uint8Array,
  paint: Painter,
): Uint8Array[] {
  const parts: Uint8Array[] = [];
  if (stdout.length > 0) {
    parts.push(stdout);
    if (stdout[stdout.length - 1] !== NEWLINE) parts.push(NEWLINE_BYTES);
  }
  if (stderr.length > 0) {
    const marker = encoder.encode(`${paint("!", "red")} `);
    const lines: Uint8Array[] = [];
    let start = 0;
    while (start < stderr.length) {
      const newline = stderr.indexOf(NEWLINE, start);
      const end = newline === -1 ? stderr.length : newline;
      lines.push(marker, stderr.subarray(start, end), NEWLINE_BYTES);
      start = end + 1;
    }
    parts.push(concatBytes(lines));
  }
  return parts;
}

/** `--output blocks`: one host's whole output under its header, as byte parts to write in order. */
export function formatBlock(
  entry: CollectedOutput,
  paint: Painter,
): Uint8Array[] {
  return [
    encoder.encode(formatHeader(
      entry.outcome.label,
      collectedStatus(entry),
      succeeded(entry.outcome),
      paint,
    )),
    ...formatBody(entry.stdout, entry.stderr, paint),
  ];
}

export interface CollectedOutput {
  outcome: HostOutcome;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** Some of the output was dropped: over BUFFERED_STREAM_LIMIT in a stream. */
  truncated: boolean;
}

export interface GatheredGroup {
  labels: string[];
  /** One member of the group: they all share its output and status. */
  sample: CollectedOutput;
}

/**
 * `--gather`: hosts whose standard output, standard error and status are
 * byte-identical form one group; groups keep the order of their first host.
 * Error messages are part of the status, so two hosts refused for different
 * reasons stay apart.
 */
export function gatherOutputs(
  collected: readonly CollectedOutput[],
): GatheredGroup[] {
  // SHA-256 digests stand for the bytes (no collision is to be expected),
  // so outputs are neither decoded nor compared with one another.
  const groups = new Map<string, GatheredGroup>();
  for (const entry of collected) {
    const key = [
      collectedStatus(entry),
      digest(entry.stdout),
      digest(entry.stderr),
    ].join("\0");
    const group = groups.get(key);
    if (group) group.labels.push(entry.outcome.label);
    else groups.set(key, { labels: [entry.outcome.label], sample: entry });
  }
  return [...groups.values()];
}

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

/** `--gather`: each group's block, as byte parts to write in order. */
export function formatGathered(
  groups: readonly GatheredGroup[],
  paint: Painter,
): Uint8Array[] {
  return groups.flatMap(({ labels, sample }) => {
    const count = labels.length === 1 ? "" : ` (${labels.length} hosts)`;
    return [
      encoder.encode(formatHeader(
        foldHosts(labels) + count,
        collectedStatus(sample),
        succeeded(sample.outcome),
        paint,
      )),
      ...formatBody(sample.stdout, sample.stderr, paint),
    ];
  });
}

/**
 * `--json`: the object for one host, one line. Output is decoded as UTF-8;
 * bytes that are not valid UTF-8 become U+FFFD (use --outdir for exact bytes).
 */
export function formatJsonRecord(
  { outcome, stdout, stderr, truncated }: CollectedOutput,
): string {
  return JSON.stringify({
    target: outcome.label,
    host: outcome.host,
    user: outcome.user,
    port: outcome.port,
    exit_code: outcome.exitCode,
    signal: outcome.signal,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
    truncated,
    duration_ms: Math.round(outcome.durationMs),
    error: outcome.error
      ? { kind: outcome.error.kind, message: errorText(outcome.error) }
      : null,
  }) + "\n";
}

/** `--outdir`: the content of `LABEL.status`. */
export function formatStatusFile(outcome: HostOutcome): string {
  return describeStatus(outcome) + "\n";
}

/**
 * Turns labels into distinct file names: anything but letters, digits, `.`,
 * `_`, `-` and `@` becomes `_` (so `[::1]:2222` is `__1__2222`), a leading
 * dot is replaced, and a name already taken gets `~2`, `~3`, ….
 */
export function outdirNames(labels: readonly string[]): string[] {
  const taken = new Set<string>();
  return labels.map((label) => {
    const base = label.replace(/[^A-Za-z0-9._@-]/g, "_").replace(/^\./, "_");
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}~${n}`;
    taken.add(name);
    return name;
  });
}

export type OutcomeCategory =
  | "succeeded"
  | "failed"
  | "unreachable"
  | "refused"
  | "timed-out"
  | "invalid"
  | "interrupted";

/**
 * refused: the host answered but auth or the host key stopped us; invalid: a
 * per-host setting made the connection impossible to try (e.g. an unreadable key).
 */
export function categorize(outcome: HostOutcome): OutcomeCategory {
  switch (outcome.error?.kind) {
    case undefined:
      return succeeded(outcome) ? "succeeded" : "failed";
    case "unreachable":
      return "unreachable";
    case "auth":
    case "host-key":
      return "refused";
    case "timeout":
      return "timed-out";
    case "usage":
      return "invalid";
    case "interrupted":
      return "interrupted";
  }
}

/**
 * The exit code of a run: 130 when it was interrupted (the caller gives the
 * signal's own 128 + N), else 7 when some host could not run the command
 * (unreachable, refused, invalid settings), else 8 when some timed out, else
 * 6 when some command exited non-zero or was killed by a signal, else 0.
 */
export function exitCodeFor(outcomes: readonly HostOutcome[]): ExitCodeValue {
  const categories = new Set(outcomes.map(categorize));
  if (categories.has("interrupted")) return ExitCode.INTERRUPTED;
  if (
    categories.has("unreachable") || categories.has("refused") ||
    categories.has("invalid")
  ) {
    return ExitCode.REMOTE_UNREACHABLE;
  }
  if (categories.has("timed-out")) return ExitCode.REMOTE_TIMEOUT;
  if (categories.has("failed")) return ExitCode.REMOTE_COMMAND_FAILED;
  return ExitCode.OK;
}

const CATEGORY_WORDS: Record<OutcomeCategory, string> = {
  "succeeded": "succeeded",
  "failed": "failed",
  "unreachable": "unreachable",
  "refused": "refused",
  "timed-out": "timed out",
  "invalid": "not started",
  "interrupted": "interrupted",
};

/**
 * The summary for standard error: a count line, then one line per distinct
 * status that is not success, with its hosts folded:
 *
 *     200 hosts: 196 succeeded, 2 failed, 1 unreachable, 1 timed out
 *       failed (exit 3): web[03,07]
 *       unreachable: web11 (connect ECONNREFUSED 127.0.0.11:22)
 *       timed out: web12 (still running after 30s; stopped)
 */
export function formatSummary(
  outcomes: readonly HostOutcome[],
  paint: Painter,
): string {
  const counts = new Map<OutcomeCategory, number>();
  const details = new Map<string, string[]>();
  for (const outcome of outcomes) {
    const category = categorize(outcome);
    counts.set(category, (counts.get(category) ?? 0) + 1);
    if (category === "succeeded") continue;
    const detail = summaryDetail(category, outcome);
    const labels = details.get(detail);
    if (labels) labels.push(outcome.label);
    else details.set(detail, [outcome.label]);
  }
  const parts = (Object.keys(CATEGORY_WORDS) as OutcomeCategory[])
    .filter((category) => counts.has(category))
    .map((category) => {
      const text = `${counts.get(category)} ${CATEGORY_WORDS[category]}`;
      return paint(text, category === "succeeded" ? "green" : "red");
    });
  const hosts = outcomes.length === 1 ? "1 host" : `${outcomes.length} hosts`;
  let text = `${hosts}: ${parts.join(", ")}\n`;
  for (const [detail, labels] of details) {
    const [head, reason] = detail.split("\0");
    text += `  ${head}: ${foldHosts(labels)}${reason ? ` (${reason})` : ""}\n`;
  }
  return text;
}

function summaryDetail(
  category: OutcomeCategory,
  outcome: HostOutcome,
): string {
  if (outcome.error) {
    const head = category === "refused"
      ? `refused (${outcome.error.kind})`
      : CATEGORY_WORDS[category];
    // Without the host's own details, many hosts share one line.
    return `${head}\0${outcome.error.brief ?? errorText(outcome.error)}`;
  }
  const why = outcome.signal !== null
    ? `signal ${outcome.signal}`
    : `exit ${outcome.exitCode}`;
  return `failed (${why})\0`;
}

/** The progress line for a terminal: `12/200 done, 3 failed, 64 running`. */
export function formatProgress(
  done: number,
  total: number,
  notOk: number,
  running: number,
): string {
  const failed = notOk > 0 ? `, ${notOk} not ok` : "";
  return `${done}/${total} done${failed}, ${running} running`;
}
