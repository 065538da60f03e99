import assert from "node:assert/strict";
import { join } from "node:path";
import ssh2 from "ssh2";
import { Channel } from "ssh2/lib/Channel.js";
import { Authenticator } from "../remote/auth.ts";
import type { UnknownHostKey } from "../remote/connection.ts";
import {
  type ExecCallbacks,
  execOnHosts,
  type ExecOptions,
  type ExecResult,
} from "../remote/exec.ts";
import { KnownHostsFiles } from "../remote/known-hosts.ts";
import type { HostSettings } from "../remote/types.ts";
import {
  type ClientKeys,
  closedPort,
  createClientKeys,
  generateHostKey,
  processesMatching,
  type SshdCluster,
  startSilentListener,
  startSshd,
  testHostSettings,
} from "./helpers/sshd.ts";

interface Run {
  results: ExecResult[];
  /** Per host: [stdout, stderr] bytes as delivered. */
  output: Uint8Array[][];
  /** onResult calls, in order. */
  finished: number[];
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

async function execRun(
  hosts: HostSettings[],
  command: string,
  options: Partial<ExecOptions> = {},
  extra: {
    keys?: ClientKeys;
    confirmUnknownHosts?: (keys: UnknownHostKey[]) => Promise<boolean[]>;
    onOutput?: ExecCallbacks["onOutput"];
  } = {},
): Promise<Run> {
  const chunks: Uint8Array[][][] = hosts.map(() => [[], []]);
  const finished: number[] = [];
  const auth = new Authenticator({
    agentSocket: null,
    prompt: null,
    askPassword: false,
  });
  await auth.load(hosts);
  const results = await execOnHosts(
    hosts,
    command,
    {
      parallel: 64,
      timeoutMs: null,
      // Generous: the 2-core test machines can be very busy.
      connectTimeoutMs: 30_000,
      stdin: null,
      ...options,
    },
    {
      auth,
      knownHosts: new KnownHostsFiles(),
      confirmUnknownHosts: extra.confirmUnknownHosts ?? null,
    },
    {
      onOutput(index, stream, chunk) {
        chunks[index][stream === "stdout" ? 0 : 1].push(chunk.slice());
        extra.onOutput?.(index, stream, chunk);
      },
      onResult(result) {
        finished.push(result.index);
      },
    },
  );
  return {
    results,
    finished,
    output: chunks.map(([out, err]) => [concat(out), concat(err)]),
  };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A TCP forwarder in front of one sshd, counting the connections made through it. */
interface CountingProxy {
  /** On 127.0.0.1. */
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Cuts every connection open now. */
  cut(): void;
  close(): void;
}

function startCountingProxy(address: string, port: number): CountingProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(65536);
    try {
      for (
        let n = await from.read(buffer);
        n !== null;
        n = await from.read(buffer)
      ) {
        for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
      }
    } catch { /* cut, or the other side went away */ }
    closeQuietly(from);
    closeQuietly(to);
  };
  const proxy: CountingProxy = {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: 0,
    cut() {
      for (const conn of [...open]) closeQuietly(conn);
    },
    close() {
      listener.close();
      proxy.cut();
    },
  };
  (async () => {
    try {
      for await (const inbound of listener) {
        proxy.accepted++;
        open.add(inbound);
        const outbound = await Deno.connect({ hostname: address, port });
        open.add(outbound);
        pipe(inbound, outbound);
        pipe(outbound, inbound);
      }
    } catch { /* closed */ }
  })();
  return proxy;
}

Deno.test("exec engine against real sshds", async (t) => {
  const keys = await createClientKeys();
  const clusters: SshdCluster[] = [];
  try {
    const main = await startSshd({ count: 200, keys });
    clusters.push(main);
    const knownHosts = join(keys.dir, "known_hosts");
    await Deno.writeTextFile(knownHosts, main.knownHosts);
    const host = (address: string, extra: Partial<HostSettings> = {}) =>
      testHostSettings(address, main.port, main.user, {
        identityFiles: [keys.key],
        userKnownHostsFiles: [knownHosts],
        ...extra,
      });

    await t.step(
      "200 hosts at fan-out 64: every output complete and attributed",
      async () => {
        const hosts = main.addresses.map((address) => host(address));
        const run = await execRun(
          hosts,
          'echo "from $SSH_CONNECTION"; echo "err $SSH_CONNECTION" >&2',
        );
        assert.equal(run.results.length, 200);
        assert.equal(run.finished.length, 200);
        for (const [index, address] of main.addresses.entries()) {
          const result = run.results[index];
          assert.equal(
            result.error,
            null,
            `${address}: ${result.error?.message}`,
          );
          assert.equal(result.exitCode, 0);
          assert.equal(result.host, address);
          const served = `${address} ${main.port}`;
          assert.match(
            text(run.output[index][0]),
            new RegExp(`^from \\S+ \\d+ ${served}\\n$`),
          );
          assert.match(
            text(run.output[index][1]),
            new RegExp(`^err \\S+ \\d+ ${served}\\n$`),
          );
        }
      },
    );

    await t.step("one host's 10 MB arrive byte for byte", async () => {
      const blob = new Uint8Array(10 * 1024 * 1024);
      for (let at = 0; at < blob.length; at += 65536) {
        crypto.getRandomValues(blob.subarray(at, at + 65536));
      }
      const path = join(keys.dir, "blob");
      await Deno.writeFile(path, blob);
      const run = await execRun([host(main.addresses[0])], `cat ${path}`);
      assert.equal(run.results[0].exitCode, 0);
      assert.equal(run.output[0][0].length, blob.length);
      assert.ok(
        run.output[0][0].every((byte, i) => byte === blob[i]),
        "bytes differ",
      );
    });

    await t.step("standard input reaches every host", async () => {
      const input = new TextEncoder().encode(
        "line one\nline two\n".repeat(5000),
      );
      const hosts = main.addresses.slice(0, 5).map((address) => host(address));
      const run = await execRun(hosts, "cat; echo end", { stdin: input });
      for (const index of hosts.keys()) {
        assert.equal(run.results[index].exitCode, 0);
        assert.equal(text(run.output[index][0]), text(input) + "end\n");
      }
    });

    await t.step(
      "a finished command's channel is not ended a second time",
      async () => {
        // ssh2's destroy() ends the channel again, and Node builds an
        // ERR_STREAM_ALREADY_FINISHED error for each host only to drop it.
        const prototype = Channel.prototype as { destroy(): unknown };
        const destroy = prototype.destroy;
        let destroyed = 0;
        prototype.destroy = function (this: unknown) {
          destroyed++;
          return destroy.call(this);
        };
        try {
          const hosts = main.addresses.slice(0, 3).map((address) =>
            host(address)
          );
          const run = await execRun(hosts, "echo ok");
          assert.deepEqual(run.results.map((r) => r.exitCode), [0, 0, 0]);
          assert.deepEqual(run.output.map(([out]) => text(out)), [
            "ok\n",
            "ok\n",
            "ok\n",
          ]);
        } finally {
          prototype.destroy = destroy;
        }
        assert.equal(destroyed, 0);
      },
    );

    await t.step(
      "sequential: hosts run one after another in target order",
      async () => {
        const hosts = main.addresses.slice(0, 6).reverse().map((address) =>
          host(address)
        );
        const run = await execRun(hosts, "true", { parallel: 1 });
        assert.deepEqual(run.finished, [0, 1, 2, 3, 4, 5]);
      },
    );

    await t.step(
      "mixed run: each host lands in its category, others unaffected",
      async () => {
        // A second sshd with another host key, listed in known_hosts under the main one's key.
        const changed = await startSshd({ count: 1, keys });
        clusters.push(changed);
        // An sshd that is killed while its command runs.
        const doomed = await startSshd({ count: 1, keys });
        clusters.push(doomed);
        const listener = startSilentListener("127.0.0.1");
        const marker = `${Math.floor(Math.random() * 1e6)}.${
          Date.now() % 1000
        }`;
        const mixedKnownHosts = join(keys.dir, "known_hosts_mixed");
        await Deno.writeTextFile(
          mixedKnownHosts,
          main.knownHosts.split("\n").filter((line) =>
            !line.startsWith(`[${main.addresses[13]}]`)
          )
            .join("\n") +
            `[${
              changed.addresses[0]
            }]:${changed.port} ${main.hostKey.publicLine}\n` +
            doomed.knownHosts,
        );
        const on = (
          address: string,
          port: number,
          extra: Partial<HostSettings> = {},
        ) =>
          testHostSettings(address, port, main.user, {
            identityFiles: [keys.key],
            userKnownHostsFiles: [mixedKnownHosts],
            ...extra,
          });
        const hosts: HostSettings[] = [
          on("127.0.0.1", closedPort()),
          on("127.0.0.1", listener.port, { connectTimeout: 1 }),
          on(main.addresses[12], main.port, {
            identityFiles: [keys.unauthorizedKey],
          }),
          on(main.addresses[13], main.port), // unknown key
          on(changed.addresses[0], changed.port),
          on(main.addresses[14], main.port), // exits 3
          on(main.addresses[15], main.port), // killed by a signal
          on(main.addresses[16], main.port), // over the timeout
          on(main.addresses[17], main.port), // over the timeout, ignoring TERM
          on(doomed.addresses[0], doomed.port), // its sshd dies mid-command
          on(main.addresses[18], main.port), // fine
          on(main.addresses[19], main.port), // its background job outlives the shell
        ];
        const commands = [
          "true",
          "true",
          "true",
          "true",
          "true",
          "echo three; exit 3",
          "kill -KILL $$",
          `sleep ${marker}1`,
          `trap "" TERM; sleep ${marker}2; echo survived`,
          "echo started; sleep 30",
          "echo fine",
          `sleep ${marker}3 & echo started`,
        ];
        // One command for all: each host picks its line by its own address and port.
        const command = hosts.map((settings, i) =>
          `[ "$(echo $SSH_CONNECTION | cut -d' ' -f3,4)" = "${settings.hostname} ${settings.port}" ] && { ${
            commands[i]
          }; }`
        ).join("; ") + "; true";
        let killed: Promise<void> | null = null;
        try {
          const run = await execRun(hosts, command, {
            timeoutMs: 8000,
          }, {
            onOutput(index, _stream, chunk) {
              if (index === 9 && text(chunk).includes("started")) {
                killed ??= doomed.stop();
              }
            },
          });
          await killed;
          const category = (r: ExecResult) =>
            r.error?.kind ?? `exit ${r.exitCode} ${r.signal}`;
          assert.deepEqual(run.results.map(category), [
            "unreachable",
            "unreachable",
            "auth",
            "host-key",
            "host-key",
            "exit 3 null",
            "exit null KILL",
            "timeout",
            "timeout",
            "unreachable",
            "exit 0 null",
            "timeout",
          ]);
          const messages = run.results.map((r) =>
            r.error?.message ?? ""
          );
          assert.equal(messages[0], "connection refused");
          assert.equal(messages[1], "no answer within 1s");
          assert.match(messages[2], /^permission denied/);
          assert.match(messages[3], /^unknown host key/);
          assert.match(messages[4], /HOST KEY CHANGED/);
          assert.match(messages[9], /connection lost/);
          for (const stopped of [7, 8, 11]) {
            assert.equal(messages[stopped], "still running after 8s; stopped");
          }
          assert.equal(text(run.output[5][0]), "three\n");
          assert.equal(text(run.output[9][0]), "started\n");
          assert.equal(text(run.output[10][0]), "fine\n");
          assert.equal(
            text(run.output[8][0]),
            "",
            "the TERM-proof command was killed",
          );
          assert.equal(await processesMatching(`sleep ${marker}`), "");
        } finally {
          listener.close();
        }
      },
    );

    await t.step(
      "a timeout whose stop the server refuses says the command may still run",
      async () => {
        // One session per connection: the stop command's channel is refused,
        // and as root the RFC 4254 signal request is ignored.
        const single = await startSshd({
          count: 1,
          keys,
          extraConfig: ["MaxSessions 1"],
        });
        clusters.push(single);
        const file = join(keys.dir, "known_hosts_single");
        await Deno.writeTextFile(file, single.knownHosts);
        const pidFile = join(keys.dir, "unstoppable.pid");
        const run = await execRun(
          [
            testHostSettings(single.addresses[0], single.port, single.user, {
              identityFiles: [keys.key],
              userKnownHostsFiles: [file],
            }),
          ],
          `echo $$ > ${pidFile}; exec sleep 60`,
          { timeoutMs: 1000 },
        );
        const pid = Number((await Deno.readTextFile(pidFile)).trim());
        try {
          assert.equal(run.results[0].error?.kind, "timeout");
          assert.equal(
            run.results[0].error?.message,
            "still running after 1s; could not stop it, so it may still be running",
          );
          // The claim is true: the command outlived the run.
          Deno.kill(pid, "SIGKILL");
        } finally {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* already ended */ }
        }
      },
    );

    await t.step(
      "unknown keys: asked once for all, before anything runs on them",
      async () => {
        const file = join(keys.dir, "known_hosts_partial");
        const unknown = main.addresses.slice(20, 23);
        await Deno.writeTextFile(
          file,
          main.knownHosts.split("\n").filter((line) =>
            !unknown.some((address) => line.startsWith(`[${address}]`))
          ).join("\n"),
        );
        const hosts = main.addresses.slice(19, 25).map((address) =>
          host(address, { userKnownHostsFiles: [file] })
        );
        const asked: UnknownHostKey[][] = [];
        let ranBeforeAnswer = false;
        let answered = false;
        const run = await execRun(hosts, "echo ran", { parallel: 2 }, {
          confirmUnknownHosts(keys) {
            asked.push(keys);
            answered = true;
            // Accept the first and third unknown host, refuse the second.
            return Promise.resolve([true, false, true]);
          },
          onOutput() {
            if (!answered) ranBeforeAnswer = true;
          },
        });
        assert.equal(asked.length, 1);
        assert.deepEqual(
          asked[0].map((key) => key.name),
          unknown.map((address) => `[${address}]:${main.port}`),
        );
        assert.ok(
          asked[0].every((key) => key.fingerprint === main.hostKey.fingerprint),
        );
        assert.equal(ranBeforeAnswer, false);
        assert.deepEqual(
          run.results.map((r) => r.error?.kind ?? text(run.output[r.index][0])),
          ["ran\n", "ran\n", "host-key", "ran\n", "ran\n", "ran\n"],
        );
        const recorded = await Deno.readTextFile(file);
        assert.ok(recorded.includes(`[${unknown[0]}]:${main.port} `));
        assert.ok(!recorded.includes(`[${unknown[1]}]:${main.port} `));
        assert.ok(recorded.includes(`[${unknown[2]}]:${main.port} `));
      },
    );

    await t.step(
      "a host dropped while the user answers is connected again",
      async () => {
        // This server drops a connection that is not authenticated within 1 s.
        const impatient = await startSshd({
          count: 2,
          keys,
          extraConfig: ["LoginGraceTime 1"],
        });
        clusters.push(impatient);
        const file = join(keys.dir, "known_hosts_impatient");
        await Deno.writeTextFile(file, "");
        const hosts = impatient.addresses.map((address) =>
          testHostSettings(address, impatient.port, impatient.user, {
            identityFiles: [keys.key],
            userKnownHostsFiles: [file],
          })
        );
        const run = await execRun(hosts, "echo ran", {}, {
          async confirmUnknownHosts(keys) {
            await new Promise((resolve) => setTimeout(resolve, 2500));
            return keys.map(() => true);
          },
        });
        assert.deepEqual(
          run.results.map((r) =>
            r.error?.message ?? text(run.output[r.index][0])
          ),
          ["ran\n", "ran\n"],
        );
      },
    );

    await t.step(
      "a host whose link drops after its key was accepted is not connected again",
      async () => {
        const file = join(keys.dir, "known_hosts_cut");
        await Deno.writeTextFile(file, "");
        const proxy = startCountingProxy(main.addresses[41], main.port);
        try {
          const run = await execRun(
            [
              testHostSettings("127.0.0.1", proxy.port, main.user, {
                identityFiles: [keys.key],
                userKnownHostsFiles: [file],
              }),
            ],
            "echo ran",
            {},
            {
              confirmUnknownHosts(keys) {
                // Answered at once; the link goes down just after.
                setTimeout(() => proxy.cut(), 0);
                return Promise.resolve(keys.map(() => true));
              },
            },
          );
          assert.equal(run.results[0].error?.kind, "unreachable");
          assert.equal(proxy.accepted, 1);
        } finally {
          proxy.close();
        }
      },
    );

    /** How many lines of FILE record NAME. */
    const recorded = async (file: string, name: string) =>
      (await Deno.readTextFile(file)).split("\n").filter((line) =>
        line.startsWith(`${name} `)
      ).length;
    const keyName = (address: string, port = main.port) =>
      `[${address}]:${port}`;
    /** Prints the address the command ran at. */
    const where = 'set -- $SSH_CONNECTION; echo "$3"';

    await t.step(
      "ProxyJump, both keys unknown: the targets' keys are asked in a second round",
      async () => {
        const file = join(keys.dir, "known_hosts_jump");
        await Deno.writeTextFile(file, "");
        const [jumpAddress, first, second, direct, known] = main.addresses
          .slice(30, 35);
        const unknown = (address: string, extra: Partial<HostSettings> = {}) =>
          host(address, { userKnownHostsFiles: [file], ...extra });
        const jump = unknown(jumpAddress);
        const hosts = [
          unknown(first, { proxyJump: [jump] }),
          unknown(second, { proxyJump: [jump] }),
          unknown(direct),
          host(known),
        ];
        const asked: string[][] = [];
        let ranBeforeLastAnswer = false;
        const run = await execRun(hosts, where, { parallel: 2 }, {
          confirmUnknownHosts(keys) {
            asked.push(keys.map((key) => key.name));
            assert.ok(
              keys.every((key) => key.fingerprint === main.hostKey.fingerprint),
            );
            // Round 1: the jump host (once for both targets) and the direct
            // host; round 2: refuse the second target only.
            return Promise.resolve(
              asked.length === 1 ? [true, true] : [true, false],
            );
          },
          onOutput() {
            if (asked.length < 2) ranBeforeLastAnswer = true;
          },
        });
        assert.deepEqual(asked, [
          [keyName(jumpAddress), keyName(direct)],
          [keyName(first), keyName(second)],
        ]);
        assert.equal(ranBeforeLastAnswer, false);
        assert.deepEqual(
          run.results.map((r) =>
            r.error?.kind ?? text(run.output[r.index][0]).trim()
          ),
          [first, "host-key", direct, known],
        );
        assert.match(run.results[1].error!.message, /not accepted/);
        for (const address of [jumpAddress, first, direct]) {
          assert.equal(await recorded(file, keyName(address)), 1, address);
        }
        assert.equal(await recorded(file, keyName(second)), 0);
      },
    );

    await t.step(
      "ProxyJump, both keys unknown, jump host declined: no second round",
      async () => {
        const file = join(keys.dir, "known_hosts_jump_declined");
        await Deno.writeTextFile(file, "");
        const [jumpAddress, target] = main.addresses.slice(35, 37);
        const jump = host(jumpAddress, { userKnownHostsFiles: [file] });
        const asked: string[][] = [];
        const run = await execRun(
          [host(target, { userKnownHostsFiles: [file], proxyJump: [jump] })],
          where,
          {},
          {
            confirmUnknownHosts(keys) {
              asked.push(keys.map((key) => key.name));
              return Promise.resolve(keys.map(() => false));
            },
          },
        );
        assert.deepEqual(asked, [[keyName(jumpAddress)]]);
        assert.equal(run.results[0].error?.kind, "host-key");
        assert.match(run.results[0].error!.message, /^jump host /);
        assert.equal(await Deno.readTextFile(file), "");
      },
    );

    await t.step(
      "ProxyJump, both keys unknown, no way to ask: refused, nothing waits",
      async () => {
        const file = join(keys.dir, "known_hosts_jump_no_terminal");
        await Deno.writeTextFile(file, "");
        const [jumpAddress, target, known] = main.addresses.slice(37, 40);
        const jump = host(jumpAddress, { userKnownHostsFiles: [file] });
        const run = await execRun(
          [
            host(target, { userKnownHostsFiles: [file], proxyJump: [jump] }),
            host(known),
          ],
          where,
        );
        assert.equal(run.results[0].error?.kind, "host-key");
        assert.match(
          run.results[0].error!.message,
          new RegExp(
            `^jump host ${jumpAddress}:${main.port}: unknown host key for \\[${jumpAddress}\\]`,
          ),
        );
        assert.match(run.results[0].error!.hint ?? "", /--accept-new/);
        assert.equal(text(run.output[1][0]), `${known}\n`);
        assert.equal(await Deno.readTextFile(file), "");
      },
    );

    await t.step(
      "ProxyJump: a jump host dropped while the user answers is connected again, and its target asked about",
      async () => {
        // The jump host drops a connection not authenticated within 1 s.
        const impatient = await startSshd({
          count: 1,
          keys,
          extraConfig: ["LoginGraceTime 1"],
        });
        clusters.push(impatient);
        const file = join(keys.dir, "known_hosts_jump_impatient");
        await Deno.writeTextFile(file, "");
        const jump = testHostSettings(
          impatient.addresses[0],
          impatient.port,
          impatient.user,
          { identityFiles: [keys.key], userKnownHostsFiles: [file] },
        );
        const target = main.addresses[40];
        const asked: string[][] = [];
        const run = await execRun(
          [host(target, { userKnownHostsFiles: [file], proxyJump: [jump] })],
          where,
          {},
          {
            async confirmUnknownHosts(keys) {
              asked.push(keys.map((key) => key.name));
              if (asked.length === 1) {
                await new Promise((resolve) => setTimeout(resolve, 2500));
              }
              return keys.map(() => true);
            },
          },
        );
        assert.deepEqual(asked, [
          [keyName(impatient.addresses[0], impatient.port)],
          [keyName(target)],
        ]);
        assert.equal(
          run.results[0].error?.message ?? text(run.output[0][0]),
          `${target}\n`,
        );
      },
    );

    await t.step(
      "ProxyJump: many targets behind one jump host share one connection to it",
      async () => {
        // As a bastion with OpenSSH's defaults, only stricter: it drops
        // unauthenticated connections beyond 2.
        const bastion = await startSshd({
          count: 1,
          keys,
          extraConfig: ["MaxStartups 2", "MaxSessions 10"],
        });
        clusters.push(bastion);
        const proxy = startCountingProxy(bastion.addresses[0], bastion.port);
        try {
          const jumpName = keyName("127.0.0.1", proxy.port);
          const targets = main.addresses.slice(50, 70);
          const behind = (file: string) => {
            const jump = testHostSettings("127.0.0.1", proxy.port, main.user, {
              identityFiles: [keys.key],
              userKnownHostsFiles: [file],
            });
            return targets.map((address) =>
              host(address, { userKnownHostsFiles: [file], proxyJump: [jump] })
            );
          };
          const ran = (run: Run) =>
            run.results.map((r) =>
              r.error?.message ?? text(run.output[r.index][0]).trim()
            );

          // The bastion's key unknown, one target at a time: asked once, and
          // the targets waiting for its answer share the one connection.
          const unknown = join(keys.dir, "known_hosts_bastion_unknown");
          await Deno.writeTextFile(unknown, main.knownHosts);
          const asked: string[][] = [];
          const askedRun = await execRun(behind(unknown), where, {
            parallel: 1,
          }, {
            confirmUnknownHosts(keys) {
              asked.push(keys.map((key) => key.name));
              return Promise.resolve(keys.map(() => true));
            },
          });
          assert.deepEqual(asked, [[jumpName]]);
          assert.deepEqual(ran(askedRun), targets);
          assert.equal(proxy.accepted, 1);
          assert.equal(await recorded(unknown, jumpName), 1);

          // Every key known: 16 at once, one connection to the bastion.
          const known = join(keys.dir, "known_hosts_bastion");
          await Deno.writeTextFile(
            known,
            main.knownHosts + `${jumpName} ${bastion.hostKey.publicLine}\n`,
          );
          const run = await execRun(behind(known), where, { parallel: 16 });
          assert.deepEqual(ran(run), targets);
          assert.equal(proxy.accepted, 2);
        } finally {
          proxy.close();
        }
      },
    );

    await t.step(
      "ProxyJump through two shared hops, both keys unknown: each asked once, in turn",
      async () => {
        const file = join(keys.dir, "known_hosts_two_hops");
        const [first, second] = main.addresses.slice(80, 82);
        const targets = main.addresses.slice(82, 86);
        // The targets' keys are known, the hops' are not.
        await Deno.writeTextFile(
          file,
          main.knownHosts.split("\n").filter((line) =>
            !line.startsWith(`${keyName(first)} `) &&
            !line.startsWith(`${keyName(second)} `)
          ).join("\n"),
        );
        const hop = (address: string) =>
          host(address, { userKnownHostsFiles: [file] });
        const asked: string[][] = [];
        const run = await execRun(
          targets.map((address) =>
            host(address, {
              userKnownHostsFiles: [file],
              proxyJump: [hop(first), hop(second)],
            })
          ),
          where,
          { parallel: 1 },
          {
            confirmUnknownHosts(keys) {
              asked.push(keys.map((key) => key.name));
              return Promise.resolve(keys.map(() => true));
            },
          },
        );
        assert.deepEqual(asked, [[keyName(first)], [keyName(second)]]);
        assert.deepEqual(
          run.results.map((r) =>
            r.error?.message ?? text(run.output[r.index][0]).trim()
          ),
          targets,
        );
      },
    );
  } finally {
    for (const cluster of clusters) await cluster.stop();
    await Deno.remove(keys.dir, { recursive: true });
  }
});

Deno.test("exec closes the channel itself once the command has exited and its output ended", async () => {
  // A stand-in server, as OpenSSH's sshd always closes first: an ssh2 server
  // in this process that sends the output, the exit status and EOF, then
  // waits for the client's CHANNEL_CLOSE (RFC 4254 §5.3 lets it).
  const dir = await Deno.makeTempDir({ prefix: "sessions-close-" });
  const keys = await createClientKeys(dir);
  const hostKey = await generateHostKey(dir);
  let closedByClient = false;
  const server = new ssh2.Server(
    { hostKeys: [await Deno.readTextFile(hostKey.path)] },
    (client) => {
      client.on("authentication", (context) => context.accept());
      client.on("ready", () => {
        client.on("session", (accept) => {
          accept().on("exec", (acceptExec) => {
            const channel = acceptExec();
            // Read to the client's EOF: ssh2 emits a server channel's close
            // only after its input has ended.
            channel.resume();
            channel.on("close", () => closedByClient = true);
            channel.write("ok\n");
            channel.exit(0);
            channel.eof();
          });
        });
      });
      client.on("error", () => {});
    },
  );
  try {
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve())
    );
    const port = (server.address() as { port: number }).port;
    const knownHosts = join(dir, "known_hosts");
    await Deno.writeTextFile(
      knownHosts,
      `[127.0.0.1]:${port} ${hostKey.publicLine}\n`,
    );
    const run = await execRun(
      [testHostSettings("127.0.0.1", port, "alice", {
        identityFiles: [keys.key],
        userKnownHostsFiles: [knownHosts],
      })],
      "anything",
      // Without our close, the run would end here, as a timeout.
      { timeoutMs: 15_000 },
    );
    assert.equal(run.results[0].error, null);
    assert.equal(run.results[0].exitCode, 0);
    assert.equal(text(run.output[0][0]), "ok\n");
    assert.ok(closedByClient, "the server saw the client's close");
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await Deno.remove(dir, { recursive: true });
  }
});
