/**
 * remote/connect.ts against the real sshd with a recording terminal: bytes
 * pass both ways untouched (the remote PTY is put in raw mode, so any
 * change would be ours), and the window size reaches the remote PTY.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Authenticator } from "../remote/auth.ts";
import { type PtyTerminal, runInteractive } from "../remote/connect.ts";
import { connect } from "../remote/connection.ts";
import { RemoteError } from "../remote/errors.ts";
import { KnownHostsFiles } from "../remote/known-hosts.ts";
import {
  type ClientKeys,
  createClientKeys,
  type SshdCluster,
  startSshd,
  testHostSettings,
} from "./helpers/sshd.ts";

/** A terminal whose input is INPUT (then end of input) and whose output is kept. */
function recordingTerminal(
  input: Uint8Array[],
  size = { rows: 33, cols: 111 },
): PtyTerminal & { output(): Uint8Array } {
  const chunks: Uint8Array[] = [];
  return {
    term: "xterm",
    size: () => size,
    onResize: () => () => {},
    read: () => Promise.resolve(input.shift() ?? null),
    write: (bytes) => chunks.push(bytes.slice()),
    output: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let offset = 0;
      for (const chunk of chunks) {
        out.set(chunk, offset);
        offset += chunk.length;
      }
      return out;
    },
  };
}

/** The settings of CLUSTER's one host (its key recorded in DIR), and a way to connect to it. */
async function onlyHost(dir: string, keys: ClientKeys, cluster: SshdCluster) {
  const knownHosts = join(dir, "known_hosts");
  await Deno.writeTextFile(knownHosts, cluster.knownHosts);
  const settings = testHostSettings(
    cluster.addresses[0],
    cluster.port,
    cluster.user,
    { identityFiles: [keys.key], userKnownHostsFiles: [knownHosts] },
  );
  const auth = new Authenticator({
    agentSocket: null,
    prompt: null,
    askPassword: false,
  });
  await auth.load([settings]);
  const open = () =>
    connect(settings, {
      auth,
      knownHosts: new KnownHostsFiles(),
      onUnknownHost: null,
    });
  return { settings, open };
}

Deno.test("runInteractive passes every byte value both ways and sets the PTY size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-cstream-" });
  const keys = await createClientKeys(join(dir));
  const cluster = await startSshd({ count: 1, keys });
  try {
    const { settings, open } = await onlyHost(dir, keys, cluster);

    const run = async (command: string, terminal: PtyTerminal) => {
      const connection = await open();
      try {
        return await runInteractive(connection.client, {
          hostLabel: "stream",
          user: settings.user,
          command,
          session: null,
        }, terminal);
      } finally {
        connection.close();
      }
    };

    await passesOutput(dir, run);
    await passesInput(dir, run);
    const sized = recordingTerminal([]);
    assert.equal(await run("stty size", sized), 0);
    assert.equal(new TextDecoder().decode(sized.output()).trim(), "33 111");
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

type Run = (command: string, terminal: PtyTerminal) => Promise<number>;

/** All 256 byte values, a few times over, in an order that is not sorted. */
function everyByte(): Uint8Array {
  const bytes = new Uint8Array(256 * 64);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 167 + (i >> 8)) & 0xff;
  return bytes;
}

async function passesOutput(dir: string, run: Run): Promise<void> {
  const file = join(dir, "bytes-out");
  const bytes = everyByte();
  await Deno.writeFile(file, bytes);
  const terminal = recordingTerminal([]);
  // Raw remote PTY: no newline translation, no echo; the file lies on this machine (loopback sshd).
  assert.equal(await run(`stty raw -echo; cat '${file}'`, terminal), 0);
  assert.deepEqual(terminal.output(), bytes);
}

async function passesInput(dir: string, run: Run): Promise<void> {
  const file = join(dir, "bytes-in");
  // Ctrl-C/Ctrl-Z/Ctrl-D are plain bytes once the remote PTY is raw.
  const bytes = everyByte().subarray(0, 4096);
  const input = [bytes.slice(0, 1000), bytes.slice(1000)];
  const command =
    `stty raw -echo; echo ready; head -c ${bytes.length} > '${file}'`;
  const reading = recordingTerminal([]);
  let sent = false;
  reading.read = async () => {
    // Send only after the remote side switched to raw mode, or the line discipline would cook the bytes.
    while (
      !sent && !new TextDecoder().decode(reading.output()).includes("ready")
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    sent = true;
    // After the last chunk: no end of input (that would close the PTY early), just nothing more.
    return input.shift() ?? new Promise<never>(() => {});
  };
  assert.equal(await run(command, reading), 0);
  assert.deepEqual(await Deno.readFile(file), bytes);
}

Deno.test("a server that refuses a terminal or a session is one RemoteError naming the host, not an internal error", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-crefuse-" });
  const keys = await createClientKeys(join(dir));
  try {
    const session = { name: "work", backend: null };
    const cases: [string, string[], typeof session | null, RegExp][] = [
      [
        "PermitTTY no",
        ["PermitTTY no"],
        null,
        /^refusing refused a terminal: /,
      ],
      [
        "MaxSessions 0",
        ["MaxSessions 0"],
        null,
        /^refusing refused a terminal: .*open failed/,
      ],
      [
        "MaxSessions 0, with --session (the multiplexer probe)",
        ["MaxSessions 0"],
        session,
        /^refusing refused a session: .*open failed/,
      ],
    ];
    for (const [what, extraConfig, session, message] of cases) {
      await t.step(what, async () => {
        const cluster = await startSshd({ count: 1, keys, extraConfig });
        try {
          const { settings, open } = await onlyHost(dir, keys, cluster);
          const connection = await open();
          try {
            await assert.rejects(
              runInteractive(connection.client, {
                hostLabel: "refusing",
                user: settings.user,
                command: "true",
                session,
              }, recordingTerminal([])),
              (error: unknown) => {
                assert.ok(error instanceof RemoteError, String(error));
                assert.equal(error.kind, "unreachable");
                assert.match(error.message, message);
                return true;
              },
            );
          } finally {
            connection.close();
          }
        } finally {
          await cluster.stop();
        }
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
