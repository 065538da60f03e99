/**
 * The authentication chain, in OpenSSH's order: the ssh-agent
 * (SSH_AUTH_SOCK), then the identity files, then a password (`--ask-pass`)
 * and, for `connect`, keyboard-interactive prompts; those last two are
 * withheld from a host whose key is not trusted (`withholdSecrets`).
 *
 * Keys are read and parsed once per run (`Authenticator.load`), never once
 * per host, and an encrypted key's passphrase is asked once per run. Keys
 * that ssh2 under Deno cannot use (legacy encrypted PEM, some ECDSA keys) are
 * found by a trial signature at load time, so the user gets a message naming
 * the key and the fix instead of a crypto error in the middle of a handshake.
 */
import { Buffer } from "node:buffer";
import type {
  AnyAuthMethod,
  AuthenticationType,
  AuthHandlerMiddleware,
  ParsedKey,
} from "ssh2";
import { RemoteError } from "./errors.ts";
import { OpenSSHAgent, parseKey } from "./ssh2.ts";
import type { HostSettings } from "./types.ts";

/**
 * Asks the user on the terminal; `echo: false` for secrets. Resolves null
 * when the user gives up (end of input, Ctrl-C at the prompt).
 */
export type Prompt = (
  message: string,
  options: { echo: boolean },
) => Promise<string | null>;

export interface AuthOptions {
  /** The agent socket (SSH_AUTH_SOCK), or null to skip the agent. */
  agentSocket: string | null;
  /** Null without a terminal: encrypted keys not in the agent are then skipped, with a note. */
  prompt: Prompt | null;
  /** `--ask-pass`: one password, asked once in `load`, offered to every host after the keys. */
  askPassword: boolean;
  /**
   * `connect`: when the server offers them, keyboard-interactive and
   * password prompts on the terminal, three tries each, after the keys.
   */
  keyboardInteractive?: boolean;
}

/** How many times a passphrase is asked for one key, as OpenSSH does. */
const PASSPHRASE_TRIES = 3;

/** One identity file after loading: a usable key, or why it cannot be used. */
type LoadedKey =
  | { status: "ok"; key: ParsedKey }
  | { status: "missing" }
  /** Encrypted, and the agent holds it: the agent offers it. */
  | { status: "in-agent" }
  | { status: "unusable"; problem: string; hint?: string };

const SIGNATURE_PROBE = Buffer.from("sessions key probe");

class WrongPassphrase extends Error {}

function isEncryptedWithoutPassphrase(error: Error): boolean {
  return /no passphrase given/i.test(error.message);
}

function unsupportedKey(path: string, cryptoError: string): LoadedKey {
  const what = /SEC1/.test(cryptoError)
    ? "an ECDSA key whose private part starts with a zero byte"
    : /legacy|DECODER/.test(cryptoError)
    ? "a legacy encrypted PEM key"
    : "a key format";
  return {
    status: "unusable",
    problem:
      `cannot use key ${path}: ${what}, which ssh2 under Deno cannot sign with`,
    hint: `rewrite it in the new format with 'ssh-keygen -p -f ${path}', ` +
      `or load it into the agent with 'ssh-add ${path}'`,
  };
}

/** The first key of ssh2's parse result, or its Error. */
function parse(text: string, passphrase?: string): ParsedKey | Error {
  try {
    const parsed = parseKey(text, passphrase);
    return Array.isArray(parsed) ? parsed[0] : parsed;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Null when ssh2 can sign with KEY; otherwise the crypto error's text. */
function signatureProblem(key: ParsedKey): string | null {
  try {
    const signature = key.sign(SIGNATURE_PROBE);
    return signature instanceof Error ? signature.message : null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function samePublicKey(a: ParsedKey, b: ParsedKey): boolean {
  return a.getPublicSSH().equals(b.getPublicSSH());
}

/** The agent, limited to the identity files' keys when IdentitiesOnly is set. */
class FilteredAgent extends OpenSSHAgent {
  constructor(socket: string, private readonly allowed: ParsedKey[]) {
    super(socket);
  }

  override getIdentities(
    callback: (error: Error | undefined, keys?: ParsedKey[]) => void,
  ): void {
    super.getIdentities((error, keys) => {
      if (error || !keys) return callback(error ?? undefined, []);
      callback(
        undefined,
        (keys as ParsedKey[]).filter((key) =>
          this.allowed.some((own) => samePublicKey(own, key))
        ),
      );
    });
  }
}

/** One method of the chain; `method` resolves null to skip it (e.g. the user gave up at a prompt). */
interface AuthStep {
  type: AuthenticationType;
  method(): AnyAuthMethod | null | Promise<AnyAuthMethod | null>;
}

const INTERACTIVE = new Set<AuthenticationType>([
  "password",
  "keyboard-interactive",
]);

/** How many password / keyboard-interactive rounds the user gets (OpenSSH's NumberOfPasswordPrompts). */
const PASSWORD_TRIES = 3;

/** Lets the connection stop its connect timer while the user answers a prompt. */
export interface PromptPauses {
  pause(): void;
  resume(): void;
}

const NO_PAUSES: PromptPauses = { pause() {}, resume() {} };

/** What one host's connection needs from the chain. */
export interface HostAuth {
  /** ssh2's `authHandler`. */
  authHandler: AuthHandlerMiddleware;
  /** After ssh2 reports `client-authentication`: the error for the user. */
  failure(): RemoteError;
  /**
   * The host's key is not trusted (a changed key let in because checking is
   * off): as OpenSSH, nothing the user types (a password, keyboard-interactive
   * answers) goes to it. REASON ends the auth error when the server wanted
   * one of those. Call before authentication starts (from the host key check).
   */
  withholdSecrets(reason: { message: string; hint?: string }): void;
}

export class Authenticator {
  readonly #options: AuthOptions;
  readonly #keys = new Map<string, LoadedKey>();
  /** Public keys the agent holds (read once; empty without an agent). */
  #agentKeys: ParsedKey[] = [];
  #agentRead = false;
  #password: string | null = null;
  /** Identity files given with `--key`. */
  readonly #fromCommandLine = new Set<string>();

  constructor(options: AuthOptions) {
    this.#options = options;
  }

  /**
   * Reads every identity file the hosts name, once, asking for passphrases
   * (once per key) and the `--ask-pass` password (once per run). Call it
   * before connecting anything; `forHost` then does no I/O.
   */
  async load(hosts: readonly HostSettings[]): Promise<void> {
    const paths = new Set<string>();
    for (const host of hosts) {
      for (const settings of [...host.proxyJump, host]) {
        for (const path of settings.identityFiles) paths.add(path);
        for (const path of settings.commandLineIdentityFiles) {
          this.#fromCommandLine.add(path);
        }
      }
    }
    const fresh = [...paths].filter((path) => !this.#keys.has(path));
    if (fresh.length > 0 && this.#options.agentSocket && !this.#agentRead) {
      this.#agentRead = true;
      this.#agentKeys = await agentIdentities(this.#options.agentSocket);
    }
    // One at a time: a passphrase prompt must not race another.
    for (const path of fresh) this.#keys.set(path, await this.#loadKey(path));
    if (this.#options.askPassword && this.#password === null) {
      const answer = await this.#ask("Password (for every host): ", false);
      if (answer === null) {
        // Nothing ran yet: the user gave up, as with any other usage choice.
        throw new RemoteError(
          "usage",
          "no password given for --ask-pass",
          "run again and type the password, or leave out --ask-pass",
        );
      }
      this.#password = answer;
    }
  }

  /**
   * After `load`, one line per `--key` file that does not exist. As `ssh -i`,
   * the caller shows them even when another key logs in: a mistyped `--key`
   * should not pass unnoticed. (A missing IdentityFile is passed over, as
   * OpenSSH does, and named only if authentication fails.)
   */
  warnings(): string[] {
    return [...this.#fromCommandLine]
      .filter((path) => this.#keys.get(path)?.status === "missing")
      .map((path) =>
        `identity file ${path} not accessible: no such file; going on without it`
      );
  }

  async #loadKey(path: string): Promise<LoadedKey> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { status: "missing" };
      return {
        status: "unusable",
        problem: `cannot read key ${path}: ${(error as Error).message}`,
      };
    }
    if (/^Proc-Type:\s*4,ENCRYPTED/m.test(text)) {
      // Legacy encrypted PEM: ssh2 under Deno parses it but cannot sign with it.
      return unsupportedKey(path, "legacy encrypted PEM");
    }
    let key: ParsedKey | Error | null = parse(text);
    if (key instanceof Error && isEncryptedWithoutPassphrase(key)) {
      key = await this.#decrypt(path, text);
      if (key === null) return this.#encryptedNote(path);
    }
    if (key instanceof Error) {
      return /unsupported|SEC1|DECODER/i.test(key.message)
        ? unsupportedKey(path, key.message)
        : {
          status: "unusable",
          problem: key instanceof WrongPassphrase
            ? key.message
            : `cannot use key ${path}: ${key.message}`,
        };
    }
    const problem = signatureProblem(key);
    return problem === null
      ? { status: "ok", key }
      : unsupportedKey(path, problem);
  }

  /** The decrypted key, an Error after the last wrong passphrase, or null when not asked. */
  async #decrypt(
    path: string,
    text: string,
  ): Promise<ParsedKey | Error | null> {
    if (this.#inAgent(path)) return null;
    let last: Error | null = null;
    for (let attempt = 0; attempt < PASSPHRASE_TRIES; attempt++) {
      const passphrase = await this.#ask(
        last
          ? `Bad passphrase, try again for ${path}: `
          : `Enter passphrase for key '${path}': `,
        false,
      );
      if (passphrase === null) return null;
      const key = parse(text, passphrase);
      if (!(key instanceof Error)) return key;
      last = /bad passphrase|decrypt/i.test(key.message)
        ? new WrongPassphrase(`wrong passphrase for key ${path}`)
        : key;
      if (last === key) return key;
    }
    return last;
  }

  #encryptedNote(path: string): LoadedKey {
    if (this.#inAgent(path)) return { status: "in-agent" };
    return {
      status: "unusable",
      problem: `key ${path} is encrypted and its passphrase was not given`,
      hint: this.#options.prompt
        ? undefined
        : `load it into the agent with 'ssh-add ${path}' (there is no terminal to ask for its passphrase)`,
    };
  }

  /** Whether the agent holds the key whose public half is PATH.pub. */
  #inAgent(path: string): boolean {
    if (this.#agentKeys.length === 0) return false;
    let publicKey: ParsedKey | Error;
    try {
      publicKey = parse(Deno.readTextFileSync(`${path}.pub`));
    } catch {
      return false;
    }
    return !(publicKey instanceof Error) &&
      this.#agentKeys.some((key) => samePublicKey(key, publicKey));
  }

  #ask(message: string, echo: boolean): Promise<string | null> {
    if (!this.#options.prompt) return Promise.resolve(null);
    return this.#options.prompt(message, { echo });
  }

  /** The auth handler for one host (no I/O: everything was read in `load`). */
  forHost(settings: HostSettings, pauses: PromptPauses = NO_PAUSES): HostAuth {
    const keys: ParsedKey[] = [];
    const notes: { problem: string; hint?: string }[] = [];
    for (const path of settings.identityFiles) {
      const loaded = this.#keys.get(path);
      if (loaded === undefined) {
        throw new Error(
          `identity file ${path} was not loaded before connecting`,
        );
      }
      if (loaded.status === "ok") keys.push(loaded.key);
      else if (loaded.status === "unusable") notes.push(loaded);
      else if (loaded.status === "missing" && settings.identityFilesExplicit) {
        // Defaults that do not exist are normal; a named key that does not is worth saying.
        notes.push({ problem: `no such key file ${path}` });
      }
    }
    const username = settings.user;
    const steps: AuthStep[] = [];
    const agentSocket = this.#options.agentSocket;
    if (agentSocket) {
      steps.push({
        type: "agent",
        method: () => ({
          type: "agent",
          username,
          agent: settings.identitiesOnly
            ? new FilteredAgent(agentSocket, keys)
            : new OpenSSHAgent(agentSocket),
        }),
      });
    }
    for (const key of keys) {
      // As OpenSSH: a key the agent already offered is not offered again
      // (each try counts against the server's MaxAuthTries).
      if (
        agentSocket && this.#agentKeys.some((held) => samePublicKey(held, key))
      ) {
        continue;
      }
      steps.push({
        type: "publickey",
        method: () => ({ type: "publickey", username, key }),
      });
    }
    const password = this.#password;
    if (password !== null) {
      steps.push({
        type: "password",
        method: () => ({ type: "password", username, password }),
      });
    }
    const prompt = this.#options.prompt;
    let passwordTries = 0;
    let gaveUp = false;
    if (this.#options.keyboardInteractive && prompt) {
      const ask = async (message: string, echo: boolean) => {
        pauses.pause();
        try {
          const answer = gaveUp ? null : await prompt(message, { echo });
          if (answer === null) gaveUp = true;
          return answer;
        } finally {
          pauses.resume();
        }
      };
      // As OpenSSH: keyboard-interactive before password, three tries each.
      for (let i = 0; i < PASSWORD_TRIES; i++) {
        steps.push({
          type: "keyboard-interactive",
          method: () =>
            gaveUp ? null : {
              type: "keyboard-interactive",
              username,
              prompt: (_name, _instructions, _lang, questions, finish) => {
                (async () => {
                  const answers: string[] = [];
                  for (const question of questions) {
                    answers.push(
                      (await ask(question.prompt, question.echo ?? false)) ??
                        "",
                    );
                  }
                  finish(answers);
                })();
              },
            },
        });
      }
      for (let i = 0; i < PASSWORD_TRIES; i++) {
        steps.push({
          type: "password",
          method: async () => {
            const answer = await ask(
              `${username}@${settings.hostname}'s password: `,
              false,
            );
            if (answer === null) return null;
            passwordTries++;
            return { type: "password", username, password: answer };
          },
        });
      }
    }

    let offered: AuthenticationType[] = [];
    let withheld: { message: string; hint?: string } | null = null;
    const authHandler: AuthHandlerMiddleware = (
      methodsLeft,
      _partial,
      next,
    ) => {
      if (methodsLeft) offered = methodsLeft;
      // ssh2 passes null before the first try: a "none" request learns what
      // the server offers, so nothing is prompted for a method it refuses.
      if (!methodsLeft && steps[0] && INTERACTIVE.has(steps[0].type)) {
        return next({ type: "none", username });
      }
      (async () => {
        while (steps.length > 0) {
          const step = steps.shift()!;
          if (methodsLeft && !methodsLeft.includes(step.type)) continue;
          if (withheld && INTERACTIVE.has(step.type)) continue;
          const method = await step.method();
          if (method) return next(method);
        }
        // ssh2 accepts false as "no more methods" (its types omit it).
        next(false as unknown as AuthenticationType);
      })();
    };
    return {
      authHandler,
      withholdSecrets: (reason) => {
        withheld = reason;
      },
      failure: () => {
        const methods = offered.length > 0 ? offered.join(",") : "publickey";
        if (withheld && offered.some((method) => INTERACTIVE.has(method))) {
          return new RemoteError(
            "auth",
            `permission denied (${methods}); ${withheld.message}`,
            withheld.hint,
          );
        }
        const note = notes[0];
        const tried = agentSocket || keys.length > 0 || password !== null ||
          passwordTries > 0;
        const message = `permission denied (${methods})` +
          (passwordTries > 0 ? `; ${passwordTries} wrong password(s)` : "") +
          (note
            ? `; ${note.problem}`
            : tried
            ? ""
            : "; no agent and no usable key");
        return new RemoteError(
          "auth",
          message,
          note?.hint ??
            (tried
              ? undefined
              : "pass a key with --key, or start ssh-agent and ssh-add one"),
        );
      },
    };
  }
}

/** The public keys in the agent; none when it cannot be reached. */
function agentIdentities(socket: string): Promise<ParsedKey[]> {
  return new Promise((resolve) => {
    try {
      new OpenSSHAgent(socket).getIdentities((error, keys) => {
        resolve(error || !keys ? [] : keys as ParsedKey[]);
      });
    } catch {
      resolve([]);
    }
  });
}
