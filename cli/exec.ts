/**
 * `sessions exec`: resolves targets and settings once, settles unknown host
 * keys before anything runs, drives remote/exec.ts, and turns its callbacks
 * into the chosen output mode, the summary and the exit code.
 */
import { join } from "node:path";
import type { ExecFlags } from "./commands/exec.ts";
import { DEFAULT_FAN_OUT } from "./commands/exec.ts";
import { usageError } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";
import {
  BUFFERED_STREAM_LIMIT_TEXT,
  CappedOutput,
  type CollectedOutput,
  concatBytes,
  describeStatus,
  exitCodeFor,
  formatBlock,
  formatGathered,
  formatJsonRecord,
  formatProgress,
  formatStatusFile,
  formatSummary,
  gatherOutputs,
  type HostOutcome,
  LineBuffer,
  LinePrefixer,
  outdirNames,
  type OutputStream,
  type Painter,
} from "./exec-output.ts";
import {
  formatError,
  isStdoutGone,
  onStdoutClosed,
  osReason,
  paint,
  writeAll,
  writeErr,
  writeOut,
} from "./output.ts";
import type { HostSettings, Target } from "../remote/types.ts";
import { parseDurationFlag } from "../remote/duration.ts";
import {
  type HostDefaults,
  type HostOverrides,
  loadSshConfig,
  withoutSameDestination,
} from "../remote/ssh-config.ts";
import { loadSessionsConfig } from "../remote/settings.ts";
import { Authenticator } from "../remote/auth.ts";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  type UnknownHostKey,
} from "../remote/connection.ts";
import { execOnHosts } from "../remote/exec.ts";
import { KnownHostsFiles } from "../remote/known-hosts.ts";
import {
  listenForExitSignals,
  PromptAborted,
  stopListening,
  Terminal,
} from "./terminal.ts";
import {
  foldHosts,
  parseExclusionList,
  parseTargetList,
  parseTargetsFile,
  selectTargets,
  type TargetGroups,
  unmatchedExclusions,
} from "../remote/targets.ts";

/** Runs shorter than this never show a progress line. */
const PROGRESS_DELAY_MS = 1_000;
const PROGRESS_INTERVAL_MS = 250;

type OutputMode = "lines" | "blocks" | "gather" | "json" | "outdir";

/** Everything a run needs, settled (and validated) before any connection is made. */
interface ExecPlan {
  command: string;
  hosts: HostSettings[];
  labels: string[];
  fanOut: number;
  timeoutMs: number | null;
  connectTimeoutMs: number;
  mode: OutputMode;
  outdir: string | null;
  /** Standard input, read to its end once, for every host's command; null when it is a terminal. */
  stdin: Uint8Array | null;
}

/** A second signal sooner than this after the first is the same one, forwarded. */
const SAME_INTERRUPT_MS = 250;

export async function runExec(
  command: string,
  flags: ExecFlags,
): Promise<void> {
  const plan = await planRun(command, flags);
  if (flags.hostKeyCheck === false) {
    writeErr(formatError(
      "host key checking is off (--no-host-key-check): connections can be intercepted",
    ));
  }
  const outcomes: (HostOutcome | undefined)[] = new Array(plan.hosts.length);
  let progress: Progress | null = null;
  // First signal (or standard output closed): stop what runs, then the
  // summary; a second signal ends at once.
  const interrupt = new AbortController();
  let interruptStatus: number | null = null;
  let interruptedAt = 0;
  const onInterrupt = (status: number, announce: boolean) => {
    if (interruptStatus !== null) {
      // One Ctrl-C can arrive twice: a wrapper such as `deno task` or npm
      // forwards the SIGINT its child already had from the terminal.
      if (Date.now() - interruptedAt < SAME_INTERRUPT_MS) return;
      terminal?.restore();
      Deno.exit(status);
    }
    interruptStatus = status;
    interruptedAt = Date.now();
    if (announce) {
      progress?.clear();
      writeErr(formatError(
        "interrupted: stopping the commands still running",
        "interrupt again to quit at once",
      ));
    }
    interrupt.abort();
  };
  // Prompts (passphrases, --ask-pass, unknown host keys) only when standard input is a terminal.
  const terminal = plan.stdin === null
    ? Terminal.open((status) => onInterrupt(status, true))
    : null;
  const signals = terminal === null
    ? listenForExitSignals((status) => onInterrupt(status, true))
    : [];
  onStdoutClosed(() => onInterrupt(ExitCode.FAILURE, false));
  const agentSocket = Deno.env.get("SSH_AUTH_SOCK") || null;
  const sink = createSink(plan);
  try {
    const auth = new Authenticator({
      agentSocket,
      // Asked on standard error, as ssh does; redirected, nobody would see
      // the question, so an encrypted key is skipped with a note instead.
      prompt: terminal && Deno.stderr.isTerminal() ? terminal.prompt : null,
      askPassword: flags.askPass === true,
    });
    await auth.load(plan.hosts);
    for (const warning of auth.warnings()) writeErr(formatError(warning));
    const shown = progress = new Progress(plan, outcomes);
    await execOnHosts(
      plan.hosts,
      plan.command,
      {
        parallel: plan.fanOut,
        timeoutMs: plan.timeoutMs,
        connectTimeoutMs: plan.connectTimeoutMs,
        stdin: plan.stdin,
        interrupt: interrupt.signal,
      },
      {
        auth,
        knownHosts: new KnownHostsFiles(),
        confirmUnknownHosts: terminal && Deno.stderr.isTerminal()
          ? async (keys) => {
            shown.hold(true);
            try {
              return await askToAccept(terminal, keys);
            } finally {
              shown.hold(false);
            }
          }
          : null,
        agentSocket,
        onWarning: (warning) => {
          shown.clear();
          writeErr(formatError(warning.message, warning.hint));
        },
      },
      {
        onOutput: (index, stream, chunk) => sink.output(index, stream, chunk),
        onResult: (result) => {
          shown.clear();
          outcomes[result.index] = result;
          sink.finished(result.index, result);
        },
      },
    );
  } finally {
    progress?.stop();
    terminal?.restore();
    stopListening(signals);
  }
  const lost = sink.end();
  const finished = outcomes.filter((outcome) => outcome !== undefined);
  // Quiet when the reader of the output went away (`| head`): it asked for
  // no more, and a summary of stopped hosts would only be noise.
  if (!isStdoutGone()) {
    writeErr(formatSummary(finished, stderrPaint));
    if (lost) writeErr(formatError(lost.message, lost.hint));
  }
  // A host's own failure (7, 8, 6) or an interrupt keeps its code: lost
  // output only turns what would be success into 1.
  const code = interruptStatus ?? exitCodeFor(finished);
  Deno.exitCode = code === ExitCode.OK && lost ? ExitCode.FAILURE : code;
}

async function planRun(command: string, flags: ExecFlags): Promise<ExecPlan> {
  if (command.trim() === "") {
    throw usageError("the remote command is empty", "give a command to run");
  }
  // The question goes to standard error: redirected, it would wait unseen.
  if (flags.askPass && !(Deno.stdin.isTerminal() && Deno.stderr.isTerminal())) {
    throw usageError(
      "--ask-pass needs a terminal on standard input and standard error",
      "use a key or ssh-agent when either is redirected",
    );
  }
  const config = loadSessionsConfig();
  const fromStdin = (flags.targetsFile ?? []).some(isStandardInput);
  const targets = await selectRunTargets(flags, config.groups);
  const timeoutSeconds = flags.timeout !== undefined
    ? parseDurationFlag("--timeout", flags.timeout)
    : config.defaults.timeout ?? null;
  const connectTimeout = flags.connectTimeout !== undefined
    ? parseDurationFlag("--connect-timeout", flags.connectTimeout)
    : undefined;
  if (connectTimeout === 0) {
    // Unlike --timeout 0 (no limit), no time to connect would fail every host.
    throw usageError(
      "--connect-timeout must be longer than 0",
      "give a duration such as 10s",
    );
  }
  const sshConfig = loadSshConfig(
    flags.F === undefined ? {} : { configFile: flags.F },
  );
  for (const warning of sshConfig.warnings) writeErr(formatError(warning));
  const overrides: HostOverrides = {};
  if (flags.user !== undefined) overrides.user = flags.user;
  if (flags.port !== undefined) overrides.port = flags.port;
  if (flags.key !== undefined) overrides.identityFiles = [flags.key];
  if (connectTimeout !== undefined) overrides.connectTimeout = connectTimeout;
  if (flags.hostKeyCheck === false) overrides.strictHostKeyChecking = "no";
  else if (flags.acceptNew) overrides.strictHostKeyChecking = "accept-new";
  const defaults: HostDefaults = {};
  if (config.defaults.user !== undefined) defaults.user = config.defaults.user;
  if (config.defaults.connectTimeout !== undefined) {
    defaults.connectTimeout = config.defaults.connectTimeout;
  }
  const { hosts, dropped } = withoutSameDestination(
    targets.map((target) => sshConfig.resolve(target, overrides, defaults)),
  );
  for (const { label, sameAs, destination } of dropped) {
    writeErr(formatError(
      `${label} is the same login as ${sameAs} (${destination}): run once`,
    ));
  }
  const mode: OutputMode = flags.json
    ? "json"
    : flags.gather
    ? "gather"
    : flags.outdir !== undefined
    ? "outdir"
    : flags.output ?? "lines";
  if (flags.outdir !== undefined) await prepareOutdir(flags.outdir);
  return {
    command,
    hosts,
    labels: hosts.map((host) => host.target.label),
    fanOut: flags.parallel === undefined
      ? 1
      : flags.parallel === true
      ? config.defaults.parallel ?? DEFAULT_FAN_OUT
      : flags.parallel,
    timeoutMs: timeoutSeconds ? timeoutSeconds * 1000 : null,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    mode,
    outdir: flags.outdir ?? null,
    // Standard input that held the targets is not the command's as well.
    stdin: fromStdin
      ? new Uint8Array(0)
      : Deno.stdin.isTerminal()
      ? null
      : await readStdin(),
  };
}

/** All of standard input; a directory or unreadable input is the user's to fix. */
async function readStdin(): Promise<Uint8Array> {
  try {
    return await readAll(Deno.stdin.readable);
  } catch (error) {
    throw usageError(
      `cannot read standard input: ${osReason(error)}`,
      "redirect a file or a pipe into sessions exec, or nothing",
    );
  }
}

/**
 * `-` or /dev/stdin as a --targets-file: read from standard input (Deno
 * lets `sessions` open /dev/stdin by name only with every permission).
 */
function isStandardInput(file: string): boolean {
  return file === "-" || file === "/dev/stdin";
}

/** --targets, then --targets-file, minus --exclude; a usage error when nothing is left. */
async function selectRunTargets(
  flags: ExecFlags,
  groups: TargetGroups,
): Promise<Target[]> {
  if (flags.targets === undefined && flags.targetsFile === undefined) {
    throw usageError(
      "no targets given",
      "name hosts with --targets LIST or --targets-file FILE",
    );
  }
  const included: Target[] = [];
  for (const list of flags.targets ?? []) {
    for (const target of parseTargetList(list, groups)) included.push(target);
  }
  let standardInput: string | null = null;
  for (const file of flags.targetsFile ?? []) {
    let content: string;
    if (isStandardInput(file)) {
      if (Deno.stdin.isTerminal()) {
        // It would wait for Ctrl-D without a word, and leave no terminal
        // for the questions (passphrases, host keys, --ask-pass).
        throw usageError(
          `--targets-file ${file} reads standard input, which is a terminal`,
          "pipe the list in, e.g. hosts | sessions exec --targets-file - CMD",
        );
      }
      standardInput ??= new TextDecoder().decode(await readStdin());
      content = standardInput;
    } else {
      try {
        content = await Deno.readTextFile(file);
      } catch (error) {
        throw usageError(
          `cannot read --targets-file ${file}: ${
            error instanceof Deno.errors.NotFound
              ? "no such file"
              : osReason(error)
          }`,
          "check the path",
        );
      }
    }
    for (const target of parseTargetsFile(content, file, groups)) {
      included.push(target);
    }
  }
  const exclusions = (flags.exclude ?? []).flatMap((list) =>
    parseExclusionList(list, groups)
  );
  const excluded = exclusions.flatMap((exclusion) => exclusion.targets);
  for (const item of unmatchedExclusions(included, exclusions)) {
    writeErr(formatError(
      `--exclude ${item} matches no target, so it leaves out nothing`,
      "an exclusion with a user or port matches only targets written with the same",
    ));
  }
  const targets = selectTargets(included, excluded);
  if (targets.length === 0) {
    throw usageError(
      "no targets left to run on",
      "check --targets, --targets-file and --exclude",
    );
  }
  return targets;
}

/**
 * Creates DIR as `mkdir -p` would and writes a file in it, so that an
 * output directory that cannot take the hosts' files is refused before
 * anything connects, not once output arrives.
 */
async function prepareOutdir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.remove(
      await Deno.makeTempFile({ dir, prefix: ".sessions-write-test-" }),
    );
  } catch (error) {
    throw usageError(
      `cannot write to --outdir ${dir}: ${writeProblem(error)}`,
      "give a directory you can write to",
    );
  }
}

/** A few words for why a directory could not be made or written. */
function writeProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    // Deno's own rule: only --allow-all may write there, and sessions never has it.
    return "sessions may not write under /dev, /proc or /sys";
  }
  if (error instanceof Deno.errors.AlreadyExists) {
    return "it exists and is not a directory";
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return "part of the path is not a directory";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied";
  }
  // The OS's words without Deno's `(os error 30): mkdir '…'` tail.
  const text = (error instanceof Error ? error.message : String(error))
    .replace(/ \(os error \d+\).*$/s, "");
  return text.charAt(0).toLowerCase() + text.slice(1);
}

async function readAll(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks.length === 0 ? new Uint8Array(0) : concatBytes(chunks);
}

/** One question for every unknown key of the run; one answer per key. */
async function askToAccept(
  terminal: Terminal,
  keys: readonly UnknownHostKey[],
): Promise<boolean[]> {
  const labels = keys.map((key) => key.settings.target.label);
  const width = labels.reduce((max, label) => Math.max(max, label.length), 0);
  let text = `The authenticity of ${
    keys.length === 1 ? "this host" : `these ${keys.length} hosts`
  } can't be established:\n`;
  keys.forEach((key, i) => {
    text += `  ${labels[i].padEnd(width)}  ${key.keyType} ${key.fingerprint}\n`;
  });
  terminal.say(text);
  try {
    for (;;) {
      const answer = (await terminal.ask(
        `Record ${
          keys.length === 1 ? "this key" : "these keys"
        } in known_hosts and connect (yes/no)? `,
      )).trim().toLowerCase();
      if (answer === "yes" || answer === "no") {
        return keys.map(() => answer === "yes");
      }
      terminal.say("Please type 'yes' or 'no'.\n");
    }
  } catch (error) {
    if (error instanceof PromptAborted) return keys.map(() => false);
    throw error;
  }
}

function createSink(plan: ExecPlan): OutputSink {
  switch (plan.mode) {
    case "lines":
      return new LinesSink(plan.labels);
    case "outdir":
      return new OutdirSink(plan.outdir!, plan.labels);
    default:
      return new CollectingSink(plan.mode);
  }
}

/**
 * `12/200 done, 64 running` on a terminal's stderr, for runs longer than a
 * second whose output does not already stream there (not lines mode).
 */
class Progress {
  #delay: ReturnType<typeof setTimeout> | undefined;
  #interval: ReturnType<typeof setInterval> | undefined;
  #shown = false;
  #held = false;

  constructor(
    private readonly plan: ExecPlan,
    private readonly outcomes: readonly (HostOutcome | undefined)[],
  ) {
    if (plan.mode === "lines" || !Deno.stderr.isTerminal()) return;
    this.#delay = setTimeout(() => {
      this.#interval = setInterval(() => this.#draw(), PROGRESS_INTERVAL_MS);
      this.#draw();
    }, PROGRESS_DELAY_MS);
  }

  /** While held (a question is on the terminal) nothing is drawn. */
  hold(held: boolean): void {
    this.clear();
    this.#held = held;
  }

  #draw(): void {
    if (this.#held) return;
    let done = 0;
    let notOk = 0;
    for (const outcome of this.outcomes) {
      if (!outcome) continue;
      done++;
      if (outcome.error || outcome.exitCode !== 0) notOk++;
    }
    const running = Math.min(this.plan.fanOut, this.outcomes.length - done);
    writeErr(
      `\r\x1b[K${formatProgress(done, this.outcomes.length, notOk, running)}`,
    );
    this.#shown = true;
  }

  /** Erases the line so other output starts at the left margin. */
  clear(): void {
    if (!this.#shown) return;
    writeErr("\r\x1b[K");
    this.#shown = false;
  }

  stop(): void {
    clearTimeout(this.#delay);
    clearInterval(this.#interval);
    this.clear();
  }
}

/** Output a sink could not deliver whole: one line after the summary. */
interface LostOutput {
  message: string;
  hint: string;
}

/** Where each host's output goes; one implementation per output mode. */
interface OutputSink {
  output(index: number, stream: OutputStream, chunk: Uint8Array): void;
  finished(index: number, outcome: HostOutcome): void;
  /** After the last host, before the summary; output it lost, to report after the summary. */
  end(): LostOutput | null | void;
}

/** Lines mode: whole lines, prefixed with the host, as they arrive; stderr lines to stderr. */
class LinesSink implements OutputSink {
  readonly #buffers: LineBuffer[][];
  readonly #labels: readonly string[];
  readonly #out: LinePrefixer;
  readonly #err: LinePrefixer;

  constructor(labels: readonly string[]) {
    this.#labels = labels;
    this.#buffers = labels.map(() => [new LineBuffer(), new LineBuffer()]);
    this.#out = LinePrefixer.forLabels(labels, stdoutPaint);
    this.#err = LinePrefixer.forLabels(labels, stderrPaint);
  }

  output(index: number, stream: OutputStream, chunk: Uint8Array): void {
    const buffer = this.#buffers[index][stream === "stdout" ? 0 : 1];
    this.#write(stream, buffer.push(chunk, this.#prefix(index, stream)));
  }

  finished(index: number, outcome: HostOutcome): void {
    const [out, err] = this.#buffers[index];
    this.#write("stdout", out.flush(this.#prefix(index, "stdout")));
    this.#write("stderr", err.flush(this.#prefix(index, "stderr")));
    if (outcome.error) {
      this.#write(
        "stderr",
        this.#err.line(
          this.#labels[index],
          "stderr",
          `sessions: ${describeStatus(outcome)}`,
        ),
      );
    }
  }

  end(): void {}

  #prefix(index: number, stream: OutputStream): Uint8Array {
    const prefixer = stream === "stdout" ? this.#out : this.#err;
    return prefixer.prefix(this.#labels[index], stream);
  }

  #write(stream: OutputStream, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (stream === "stdout") writeOut([bytes]);
    // The hosts' stderr lines are half of one output: once nobody reads
    // the other half (`| head`), they stop too, as pdsh stops.
    else if (!isStdoutGone()) writeErr([bytes]);
  }
}

/** Keeps each host's bytes until it finishes (blocks, JSON, gather). */
class CollectingSink implements OutputSink {
  readonly #outputs = new Map<number, CappedOutput>();
  readonly #collected: CollectedOutput[] = [];
  /** Labels of the hosts whose output was cut. */
  readonly #truncated: string[] = [];

  constructor(private readonly mode: "blocks" | "json" | "gather") {}

  output(index: number, stream: OutputStream, chunk: Uint8Array): void {
    let output = this.#outputs.get(index);
    if (output === undefined) {
      output = new CappedOutput();
      this.#outputs.set(index, output);
    }
    output.push(stream, chunk);
  }

  finished(index: number, outcome: HostOutcome): void {
    const entry = (this.#outputs.get(index) ?? new CappedOutput()).collect(
      outcome,
    );
    this.#outputs.delete(index);
    if (entry.truncated) this.#truncated.push(outcome.label);
    if (this.mode === "blocks") {
      writeOut(formatBlock(entry, stdoutPaint));
    } else if (this.mode === "json") {
      writeOut(formatJsonRecord(entry));
    } else {
      this.#collected[index] = entry;
    }
  }

  end(): LostOutput | null {
    if (this.mode === "gather") {
      const collected = this.#collected.filter((entry) => entry !== undefined);
      writeOut(formatGathered(gatherOutputs(collected), stdoutPaint));
    }
    if (this.#truncated.length === 0) return null;
    return {
      message:
        `output over ${BUFFERED_STREAM_LIMIT_TEXT} in a stream was cut short for ${
          foldHosts(this.#truncated)
        }`,
      hint: "use --output lines or --outdir DIR to keep all of it",
    };
  }
}

/** `--outdir`: DIR/NAME.stdout and .stderr as the bytes arrive, DIR/NAME.status at the end. */
class OutdirSink implements OutputSink {
  readonly #names: string[];
  readonly #labels: readonly string[];
  readonly #files: (Deno.FsFile | null)[][];
  /** Hosts whose files could not be written, with the first reason. */
  readonly #lost = new Map<number, string>();

  constructor(private readonly dir: string, labels: readonly string[]) {
    this.#names = outdirNames(labels);
    this.#labels = labels;
    this.#files = labels.map(() => [null, null]);
  }

  output(index: number, stream: OutputStream, chunk: Uint8Array): void {
    this.#guard(index, () => writeAll(this.#file(index, stream), chunk));
  }

  finished(index: number, outcome: HostOutcome): void {
    this.#guard(index, () => {
      for (const stream of ["stdout", "stderr"] as const) {
        this.#file(index, stream);
      }
      Deno.writeTextFileSync(
        join(this.dir, `${this.#names[index]}.status`),
        formatStatusFile(outcome),
      );
    });
    this.#close(index);
  }

  /** Files that could not be written. */
  end(): LostOutput | null {
    if (this.#lost.size === 0) return null;
    const [reason] = this.#lost.values();
    return {
      message: `could not write the --outdir files of ${
        foldHosts([...this.#lost.keys()].map((index) => this.#labels[index]))
      }: ${reason}`,
      hint:
        "their output is incomplete; check the directory and the free space",
    };
  }

  /**
   * Runs a write for host INDEX; a failure (directory removed, disk full,
   * no file descriptors) loses that host's files, not the run: ssh2 would
   * take an exception from its data handler for a broken connection.
   */
  #guard(index: number, write: () => void): void {
    if (this.#lost.has(index)) return;
    try {
      write();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#lost.set(index, message.replace(/ \(os error \d+\)/, ""));
      this.#close(index);
    }
  }

  #close(index: number): void {
    for (const file of this.#files[index].splice(0, 2, null, null)) {
      try {
        file?.close();
      } catch { /* already closed */ }
    }
  }

  #file(index: number, stream: OutputStream): Deno.FsFile {
    const slot = stream === "stdout" ? 0 : 1;
    let file = this.#files[index][slot];
    if (file === null) {
      file = Deno.openSync(join(this.dir, `${this.#names[index]}.${stream}`), {
        write: true,
        create: true,
        truncate: true,
      });
      this.#files[index][slot] = file;
    }
    return file;
  }
}

const stdoutPaint: Painter = (text, style) => paint(text, style, Deno.stdout);
const stderrPaint: Painter = (text, style) => paint(text, style, Deno.stderr);
