import assert from "node:assert/strict";
import { join } from "node:path";
import ssh2, { type AuthenticationType } from "ssh2";
import { Authenticator, type AuthOptions } from "../remote/auth.ts";
import {
  connect,
  type ConnectOptions,
  type HostKeyWarning,
  JumpHosts,
  type SshConnection,
  type UnknownHostKey,
} from "../remote/connection.ts";
import { KnownHostsFiles } from "../remote/known-hosts.ts";
import { RemoteError } from "../remote/errors.ts";
import type { HostSettings } from "../remote/types.ts";
import {
  type ClientKeys,
  closedPort,
  createClientKeys,
  descendantsOf,
  generateHostKey,
  generateKey,
  type SshdCluster,
  startSilentListener,
  startSshd,
  testHostSettings as settingsFor,
} from "./helpers/sshd.ts";

/**
 * Connects with SETTINGS (its UserKnownHostsFile set to KNOWN_HOSTS, null for
 * none), runs one command.
 */
async function tryConnect(
  settings: HostSettings,
  knownHosts: string | null,
  authOptions: Partial<AuthOptions> = {},
  options: Partial<ConnectOptions> = {},
  command = "echo ok $SSH_CONNECTION",
): Promise<string> {
  const auth = new Authenticator({
    agentSocket: null,
    prompt: null,
    askPassword: false,
    ...authOptions,
  });
  await auth.load([settings]);
  settings.userKnownHostsFiles = knownHosts === null ? [] : [knownHosts];
  const connection = await connect(settings, {
    auth,
    knownHosts: new KnownHostsFiles(),
    onUnknownHost: null,
    connectTimeoutMs: 3000,
    ...options,
  });
  try {
    return await runOn(connection, command);
  } finally {
    connection.close();
    await connection.closed;
  }
}

/** Runs COMMAND on an open connection; its standard output, trimmed. */
function runOn(connection: SshConnection, command: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    connection.client.exec(command, (error, stream) => {
      if (error) return reject(error);
      let out = "";
      stream.on(
        "data",
        (chunk: Uint8Array) => out += new TextDecoder().decode(chunk),
      );
      stream.on("close", () => resolve(out.trim()));
    });
  });
}

/**
 * Starts a new key exchange from the client side (ssh2's Client has no
 * public rekey()); resolves when it completes.
 */
function rekey(connection: SshConnection): Promise<void> {
  const client = connection.client as unknown as {
    _protocol: { rekey(): void };
  };
  const done = new Promise<void>((resolve) =>
    connection.client.once("handshake", () => resolve())
  );
  client._protocol.rekey();
  return done;
}

async function rejection(promise: Promise<unknown>): Promise<RemoteError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RemoteError, `not a RemoteError: ${error}`);
    return error;
  }
  assert.fail("expected a RemoteError");
}

Deno.test("ssh connection: auth, host keys, ProxyJump against a real sshd", async (t) => {
  const keys: ClientKeys = await createClientKeys();
  let cluster: SshdCluster | null = null;
  try {
    cluster = await startSshd({ count: 4, keys });
    const { addresses, port, user, hostKey } = cluster;
    let files = 0;
    /** A fresh known_hosts file with CONTENT. */
    const knownHostsFile = (content: string) => {
      const path = join(keys.dir, `known_hosts_${files++}`);
      Deno.writeTextFileSync(path, content);
      return path;
    };
    const knownStore = () => knownHostsFile(cluster!.knownHosts);

    /** The error of connecting to the first host with only the key at PATH. */
    const refusedWithKey = (path: string) =>
      rejection(
        tryConnect(
          settingsFor(addresses[0], port, user, { identityFiles: [path] }),
          knownStore(),
        ),
      );

    await t.step("key file", async () => {
      const out = await tryConnect(
        settingsFor(addresses[0], port, user, { identityFiles: [keys.key] }),
        knownStore(),
      );
      assert.match(
        out,
        new RegExp(`^ok .* ${addresses[0].replaceAll(".", "\\.")} ${port}$`),
      );
    });

    await t.step(
      "encrypted key: passphrase asked once for several hosts",
      async () => {
        const questions: string[] = [];
        const auth = new Authenticator({
          agentSocket: null,
          askPassword: false,
          prompt: (message) => {
            questions.push(message);
            return Promise.resolve(keys.passphrase);
          },
        });
        const hosts = addresses.slice(0, 3).map((address) =>
          settingsFor(address, port, user, {
            identityFiles: [keys.encryptedKey],
          })
        );
        await auth.load(hosts);
        await auth.load(hosts);
        const connections = await Promise.all(
          hosts.map((settings) =>
            connect({ ...settings, userKnownHostsFiles: [knownStore()] }, {
              auth,
              knownHosts: new KnownHostsFiles(),
              onUnknownHost: null,
            })
          ),
        );
        for (const connection of connections) connection.close();
        assert.equal(questions.length, 1);
        assert.match(questions[0], /passphrase.*id_encrypted/);
      },
    );

    await t.step("encrypted key: three wrong passphrases", async () => {
      let asked = 0;
      const error = await rejection(
        tryConnect(
          settingsFor(addresses[0], port, user, {
            identityFiles: [keys.encryptedKey],
          }),
          knownStore(),
          {
            prompt: () => {
              asked++;
              return Promise.resolve("not the passphrase");
            },
          },
        ),
      );
      assert.equal(asked, 3);
      assert.equal(error.kind, "auth");
      assert.equal(
        error.message,
        `permission denied (publickey); wrong passphrase for key ${keys.encryptedKey}`,
      );
    });

    await t.step(
      "encrypted key without a terminal: auth error naming the key",
      async () => {
        const error = await refusedWithKey(keys.encryptedKey);
        assert.equal(error.kind, "auth");
        assert.match(
          error.message,
          /permission denied \(publickey\).*id_encrypted.*passphrase/,
        );
        assert.match(error.hint ?? "", /ssh-add .*id_encrypted/);
      },
    );

    await t.step("agent: a key loaded in a real ssh-agent", async () => {
      const socket = join(keys.dir, "agent.sock");
      const agent = new Deno.Command("ssh-agent", {
        args: ["-D", "-a", socket],
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        for (let i = 0; i < 100; i++) {
          try {
            Deno.statSync(socket);
            break;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        const added = await new Deno.Command("ssh-add", {
          args: [keys.key],
          env: { SSH_AUTH_SOCK: socket },
          stdout: "null",
          stderr: "null",
        }).output();
        assert.ok(added.success);
        // No identity file at all: only the agent can authenticate.
        const out = await tryConnect(
          settingsFor(addresses[1], port, user),
          knownStore(),
          {
            agentSocket: socket,
          },
        );
        assert.match(out, /^ok /);

        // IdentitiesOnly: the agent may only offer the identity files' keys.
        const only = await rejection(
          tryConnect(
            settingsFor(addresses[1], port, user, {
              identityFiles: [keys.unauthorizedKey],
              identitiesOnly: true,
            }),
            knownStore(),
            { agentSocket: socket },
          ),
        );
        assert.equal(only.kind, "auth");

        // ForwardAgent: the remote side sees the local agent's key.
        const listed = await tryConnect(
          settingsFor(addresses[1], port, user, { forwardAgent: true }),
          knownStore(),
          { agentSocket: socket },
          { agentSocket: socket },
          "ssh-add -l",
        );
        assert.match(listed, /ED25519/);

        // A changed key let in with checking off: the agent still logs in,
        // but is not forwarded to it.
        const other = await generateHostKey(keys.dir);
        const warnings: HostKeyWarning[] = [];
        const unforwarded = await tryConnect(
          settingsFor(addresses[1], port, user, {
            forwardAgent: true,
            strictHostKeyChecking: "no",
          }),
          knownHostsFile(`[${addresses[1]}]:${port} ${other.publicLine}\n`),
          { agentSocket: socket },
          {
            agentSocket: socket,
            onWarning: (warning) => warnings.push(warning),
          },
          'echo "sock=[$SSH_AUTH_SOCK]"',
        );
        assert.equal(unforwarded, "sock=[]");
        assert.equal(warnings.length, 1);
        assert.match(warnings[0].message, /agent forwarding disabled/);
      } finally {
        Deno.kill(agent.pid, "SIGTERM");
        await agent.status;
      }
    });

    await t.step("--ask-pass: one question for every host", async () => {
      const questions: string[] = [];
      const auth = new Authenticator({
        agentSocket: null,
        askPassword: true,
        prompt: (message, { echo }) => {
          questions.push(message);
          assert.equal(echo, false);
          return Promise.resolve("secret");
        },
      });
      await auth.load(
        addresses.map((address) => settingsFor(address, port, user)),
      );
      assert.equal(questions.length, 1);
    });

    await t.step(
      "a killed server: the connection reports it lost",
      async () => {
        const doomed = await startSshd({ count: 1, keys });
        try {
          const auth = new Authenticator({
            agentSocket: null,
            prompt: null,
            askPassword: false,
          });
          const settings = settingsFor(doomed.addresses[0], doomed.port, user, {
            identityFiles: [keys.key],
            userKnownHostsFiles: [knownHostsFile(doomed.knownHosts)],
          });
          await auth.load([settings]);
          const connection = await connect(settings, {
            auth,
            knownHosts: new KnownHostsFiles(),
            onUnknownHost: null,
          });
          await doomed.stop();
          const lost = await connection.closed;
          assert.equal(lost?.kind, "unreachable");
          assert.match(
            lost?.message ?? "",
            /^connection (lost|closed by the server)/,
          );
        } finally {
          await doomed.stop();
        }
      },
    );

    await t.step(
      "keepalive: a server that stops answering is noticed",
      async () => {
        const frozen = await startSshd({ count: 1, keys });
        const stopped: number[] = [];
        try {
          const auth = new Authenticator({
            agentSocket: null,
            prompt: null,
            askPassword: false,
          });
          const settings = settingsFor(frozen.addresses[0], frozen.port, user, {
            identityFiles: [keys.key],
            userKnownHostsFiles: [knownHostsFile(frozen.knownHosts)],
            serverAliveInterval: 1,
            serverAliveCountMax: 2,
          });
          await auth.load([settings]);
          const connection = await connect(settings, {
            auth,
            knownHosts: new KnownHostsFiles(),
            onUnknownHost: null,
          });
          // Freeze the sshd processes serving the connection: the link stays up, nothing answers.
          for (const pid of descendantsOf(frozen.pids[0])) {
            try {
              Deno.kill(pid, "SIGSTOP");
              stopped.push(pid);
            } catch {
              // a short-lived process that is already gone
            }
          }
          const lost = await connection.closed;
          assert.equal(lost?.kind, "unreachable");
          assert.equal(
            lost?.message,
            "connection lost (no answer to keepalive)",
          );
        } finally {
          for (const pid of stopped) {
            try {
              Deno.kill(pid, "SIGCONT");
            } catch {
              // exited meanwhile
            }
          }
          await frozen.stop();
        }
      },
    );

    await t.step("unauthorized key: permission denied", async () => {
      const error = await refusedWithKey(keys.unauthorizedKey);
      assert.equal(error.kind, "auth");
      assert.equal(error.message, "permission denied (publickey)");
    });

    await t.step(
      "a named key file that does not exist is mentioned",
      async () => {
        const missing = join(keys.dir, "id_missing");
        const error = await refusedWithKey(missing);
        assert.equal(error.kind, "auth");
        assert.equal(
          error.message,
          `permission denied (publickey); no such key file ${missing}`,
        );
      },
    );

    await t.step(
      "legacy encrypted PEM key: named, with the fix, no prompt",
      async () => {
        const pem = await generateKey(join(keys.dir, "id_legacy_pem"), {
          type: "rsa",
          passphrase: "legacy pass",
          extra: ["-m", "PEM", "-b", "2048"],
        });
        let asked = 0;
        const error = await rejection(
          tryConnect(
            settingsFor(addresses[0], port, user, { identityFiles: [pem] }),
            knownStore(),
            {
              prompt: () => {
                asked++;
                return Promise.resolve("legacy pass");
              },
            },
          ),
        );
        assert.equal(asked, 0);
        assert.equal(error.kind, "auth");
        assert.match(error.message, /id_legacy_pem/);
        assert.doesNotMatch(error.message, /DECODER/);
        assert.match(error.hint ?? "", /ssh-keygen -p -f .*id_legacy_pem/);
      },
    );

    await t.step(
      "ECDSA key ssh2 cannot sign with: named, with the fix",
      async () => {
        // About half of nistp256 keys have a leading zero scalar; try until one does.
        let found: RemoteError | null = null;
        for (let i = 0; i < 16 && found === null; i++) {
          const path = await generateKey(join(keys.dir, `id_ecdsa_${i}`), {
            type: "ecdsa",
          });
          const error = await rejection(
            tryConnect(
              settingsFor(addresses[0], port, user, { identityFiles: [path] }),
              knownStore(),
            ),
          );
          assert.equal(error.kind, "auth");
          if (/cannot sign/.test(error.message)) found = error;
        }
        assert.ok(found, "no ECDSA key with a leading zero in 16 tries");
        assert.doesNotMatch(found.message, /SEC1/);
        assert.match(found.message, /id_ecdsa_\d+/);
        assert.match(found.hint ?? "", /ssh-keygen -p -f .*id_ecdsa_\d+/);
      },
    );

    const withKey = (address: string, extra: Partial<HostSettings> = {}) =>
      settingsFor(address, port, user, { identityFiles: [keys.key], ...extra });

    await t.step("unknown host key: refused without a way to ask", async () => {
      const path = knownHostsFile("");
      const error = await rejection(tryConnect(withKey(addresses[0]), path));
      assert.equal(error.kind, "host-key");
      assert.match(
        error.message,
        new RegExp(`unknown host key for \\[${addresses[0]}\\]:${port}`),
      );
      assert.ok(error.message.includes(hostKey.fingerprint));
      assert.equal(Deno.readTextFileSync(path), "");
    });

    await t.step(
      "unknown host key: StrictHostKeyChecking yes refuses",
      async () => {
        const error = await rejection(
          tryConnect(
            withKey(addresses[0], { strictHostKeyChecking: "yes" }),
            knownHostsFile(""),
          ),
        );
        assert.equal(error.kind, "host-key");
      },
    );

    await t.step("unknown host key: accept-new records it", async () => {
      const path = knownHostsFile("");
      await tryConnect(
        withKey(addresses[0], { strictHostKeyChecking: "accept-new" }),
        path,
      );
      assert.equal(
        Deno.readTextFileSync(path),
        `[${addresses[0]}]:${port} ${hostKey.publicLine}\n`,
      );
    });

    await t.step(
      "unknown host key: checking off records it, as OpenSSH",
      async () => {
        const path = knownHostsFile("# other hosts\n");
        assert.match(
          await tryConnect(
            withKey(addresses[0], { strictHostKeyChecking: "no" }),
            path,
          ),
          /^ok /,
        );
        assert.equal(
          Deno.readTextFileSync(path),
          `# other hosts\n[${addresses[0]}]:${port} ${hostKey.publicLine}\n`,
        );
        // Nowhere to record it (UserKnownHostsFile none): still let in, quietly.
        const warnings: HostKeyWarning[] = [];
        const onWarning = (warning: HostKeyWarning) => warnings.push(warning);
        assert.match(
          await tryConnect(
            withKey(addresses[0], { strictHostKeyChecking: "no" }),
            null,
            {},
            { onWarning },
          ),
          /^ok /,
        );
        assert.equal(warnings.length, 0);
        // A file that can be read but not written: still let in, and said so.
        const unwritable = "/proc/version";
        assert.match(
          await tryConnect(
            withKey(addresses[0], { strictHostKeyChecking: "no" }),
            unwritable,
            {},
            { onWarning },
          ),
          /^ok /,
        );
        assert.equal(warnings.length, 1);
        assert.equal(warnings[0].kind, "not-recorded");
        assert.match(
          warnings[0].message,
          new RegExp(
            `^cannot record the host key of \\[${
              addresses[0].replaceAll(".", "\\.")
            }\\]:${port} in ${unwritable}: .*; connecting anyway as host key checking is off$`,
          ),
        );
      },
    );

    await t.step(
      "unknown host key: asked; yes records, no refuses",
      async () => {
        for (const answer of [true, false]) {
          const asked: UnknownHostKey[] = [];
          const path = knownHostsFile("");
          const attempt = tryConnect(withKey(addresses[1]), path, {}, {
            // Longer than the connect timeout: the timer must not run while asking.
            onUnknownHost: async (key) => {
              asked.push(key);
              await new Promise((resolve) => setTimeout(resolve, 1500));
              return answer;
            },
            connectTimeoutMs: 1000,
          });
          if (answer) {
            assert.match(await attempt, /^ok /);
            assert.equal(
              Deno.readTextFileSync(path),
              `[${addresses[1]}]:${port} ${hostKey.publicLine}\n`,
            );
          } else {
            const error = await rejection(attempt);
            assert.equal(error.kind, "host-key");
            assert.equal(Deno.readTextFileSync(path), "");
          }
          assert.equal(asked.length, 1);
          assert.equal(asked[0].fingerprint, hostKey.fingerprint);
          assert.equal(asked[0].keyType, "ssh-ed25519");
        }
      },
    );

    await t.step(
      "changed host key: refused even with accept-new; off accepts",
      async () => {
        const other = await generateHostKey(keys.dir);
        const path = knownHostsFile(
          `# other hosts\n[${addresses[2]}]:${port} ${other.publicLine}\n`,
        );
        const error = await rejection(
          tryConnect(
            withKey(addresses[2], { strictHostKeyChecking: "accept-new" }),
            path,
          ),
        );
        assert.equal(error.kind, "host-key");
        assert.ok(
          error.message.includes(
            `HOST KEY CHANGED for [${addresses[2]}]:${port}`,
          ),
        );
        assert.ok(error.message.includes(`${path}:2`));
        assert.match(error.hint ?? "", /ssh-keygen -R/);
        const warnings: HostKeyWarning[] = [];
        assert.match(
          await tryConnect(
            withKey(addresses[2], { strictHostKeyChecking: "no" }),
            path,
            {},
            { onWarning: (warning) => warnings.push(warning) },
          ),
          /^ok /,
        );
        assert.equal(warnings.length, 1);
        assert.ok(
          warnings[0].message.startsWith(
            `HOST KEY CHANGED for [${
              addresses[2]
            }]:${port}: the server sent ${hostKey.fingerprint}, which differs from ${path}:2;`,
          ),
          warnings[0].message,
        );
        assert.match(
          warnings[0].message,
          /connecting anyway as host key checking is off, but with password and keyboard-interactive authentication and agent forwarding disabled to avoid man-in-the-middle attacks$/,
        );
        assert.match(warnings[0].hint ?? "", /ssh-keygen -R/);
        // Not recorded: the old line stays the only one.
        assert.equal(
          Deno.readTextFileSync(path),
          `# other hosts\n[${addresses[2]}]:${port} ${other.publicLine}\n`,
        );
      },
    );

    await t.step(
      "a host known by its RSA key is met with that key",
      async () => {
        const rsa = await generateKey(join(keys.dir, "host_rsa"), {
          type: "rsa",
          extra: ["-b", "2048"],
        });
        const both = await startSshd({
          count: 1,
          keys,
          extraConfig: [`HostKey ${rsa}`],
        });
        try {
          const rsaLine = (await Deno.readTextFile(`${rsa}.pub`)).split(" ")
            .slice(0, 2).join(" ");
          const out = await tryConnect(
            settingsFor(both.addresses[0], both.port, user, {
              identityFiles: [keys.key],
              strictHostKeyChecking: "yes",
            }),
            knownHostsFile(`[${both.addresses[0]}]:${both.port} ${rsaLine}\n`),
          );
          assert.match(out, /^ok /);
        } finally {
          await both.stop();
        }
      },
    );

    await t.step(
      "re-key with the same key: not judged again, the warning not repeated",
      async () => {
        // A changed key let in with checking off: judged again, it would warn again.
        const other = await generateHostKey(keys.dir);
        const settings = withKey(addresses[2], {
          strictHostKeyChecking: "no",
          userKnownHostsFiles: [
            knownHostsFile(`[${addresses[2]}]:${port} ${other.publicLine}\n`),
          ],
        });
        const auth = new Authenticator({
          agentSocket: null,
          prompt: null,
          askPassword: false,
        });
        await auth.load([settings]);
        const warnings: HostKeyWarning[] = [];
        const connection = await connect(settings, {
          auth,
          knownHosts: new KnownHostsFiles(),
          onUnknownHost: null,
          onWarning: (warning) => warnings.push(warning),
        });
        try {
          await rekey(connection);
          await rekey(connection);
          assert.equal(await runOn(connection, "echo after"), "after");
          assert.equal(warnings.length, 1);
        } finally {
          connection.close();
          await connection.closed;
        }
      },
    );

    await t.step("revoked host key: refused", async () => {
      const path = knownHostsFile(
        cluster!.knownHosts + `@revoked * ${hostKey.publicLine}\n`,
      );
      const error = await rejection(tryConnect(withKey(addresses[0]), path));
      assert.equal(error.kind, "host-key");
      assert.match(error.message, /revoked/);
      // As OpenSSH: turning checking off does not let a revoked key in.
      const unchecked = await rejection(
        tryConnect(
          withKey(addresses[0], { strictHostKeyChecking: "no" }),
          path,
        ),
      );
      assert.equal(unchecked.kind, "host-key");
      assert.match(unchecked.message, /revoked/);
    });

    await t.step("ProxyCommand: refused before connecting", async () => {
      const error = await rejection(
        tryConnect(
          withKey(addresses[0], { proxyCommand: "nc %h %p" }),
          knownHostsFile(cluster!.knownHosts),
        ),
      );
      assert.equal(error.kind, "usage");
      assert.match(error.message, /ProxyCommand/);
    });

    await t.step("ProxyJump: one hop, both on loopback", async () => {
      const jump = withKey(addresses[3], {
        userKnownHostsFiles: [knownStore()],
      });
      const out = await tryConnect(
        withKey(addresses[2], { proxyJump: [jump] }),
        knownStore(),
      );
      // The target sees the connection coming from the jump host's sshd.
      assert.match(
        out,
        new RegExp(` ${addresses[2].replaceAll(".", "\\.")} ${port}$`),
      );
    });

    await t.step(
      "ProxyJump, shared: a jump host that stops answering fails the next target within its ConnectTimeout",
      async () => {
        const frozen = await startSshd({ count: 1, keys });
        const stopped: number[] = [];
        try {
          const jump = withKey(frozen.addresses[0], {
            port: frozen.port,
            userKnownHostsFiles: [knownHostsFile(frozen.knownHosts)],
          });
          const targets = [
            withKey(addresses[0], {
              proxyJump: [jump],
              userKnownHostsFiles: [knownStore()],
            }),
            withKey(addresses[1], {
              proxyJump: [jump],
              connectTimeout: 1,
              userKnownHostsFiles: [knownStore()],
            }),
          ];
          const auth = new Authenticator({
            agentSocket: null,
            prompt: null,
            askPassword: false,
          });
          await auth.load(targets);
          const jumps = new JumpHosts(targets);
          const options: ConnectOptions = {
            auth,
            knownHosts: new KnownHostsFiles(),
            onUnknownHost: null,
            jumps,
          };
          try {
            const first = await connect(targets[0], options);
            assert.match(await runOn(first, "echo ok"), /^ok$/);
            // Freeze the sshd processes serving the jump connection (not its
            // listener, which would take a new connection): the link stays
            // up, nothing answers on it.
            for (const pid of descendantsOf(frozen.pids[0])) {
              try {
                Deno.kill(pid, "SIGSTOP");
                stopped.push(pid);
              } catch {
                // a short-lived process that is already gone
              }
            }
            const error = await rejection(connect(targets[1], options));
            assert.equal(error.kind, "unreachable");
            assert.equal(
              error.message,
              `the jump host did not reach ${addresses[1]}:${port} within 1s`,
            );
            first.close();
          } finally {
            jumps.close();
          }
        } finally {
          for (const pid of stopped) {
            try {
              Deno.kill(pid, "SIGCONT");
            } catch {
              // exited meanwhile
            }
          }
          await frozen.stop();
        }
      },
    );

    await t.step(
      "ProxyJump: an unreachable target is reported as such",
      async () => {
        const jump = withKey(addresses[3], {
          userKnownHostsFiles: [knownStore()],
        });
        const error = await rejection(
          tryConnect(
            settingsFor("127.0.0.1", closedPort(), user, {
              identityFiles: [keys.key],
              proxyJump: [jump],
            }),
            knownStore(),
          ),
        );
        assert.equal(error.kind, "unreachable");
        assert.match(error.message, /jump host could not reach/);
      },
    );

    await t.step(
      "settings ssh2 rejects at once: the socket opened for them is not left connecting",
      async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const listenPort = (listener.addr as Deno.NetAddr).port;
        try {
          const error = await rejection(
            tryConnect(
              // ssh2's connect() throws synchronously on a user that is not a string.
              withKey("127.0.0.1", {
                port: listenPort,
                user: 42 as unknown as string,
              }),
              knownStore(),
            ),
          );
          assert.equal(error.kind, "unreachable");
          assert.match(error.message, /Invalid username/);
          // Connections are accepted in the order they were made: a socket
          // left connecting (its connect is queued on the next tick) would
          // be accepted before this one.
          await new Promise((resolve) => setTimeout(resolve, 0));
          const probe = await Deno.connect({
            hostname: "127.0.0.1",
            port: listenPort,
          });
          const first = await listener.accept();
          try {
            assert.equal(
              (first.remoteAddr as Deno.NetAddr).port,
              (probe.localAddr as Deno.NetAddr).port,
              "a connection from the failed attempt reached the server",
            );
          } finally {
            first.close();
            probe.close();
          }
        } finally {
          listener.close();
        }
      },
    );

    await t.step("closed port: connection refused", async () => {
      const error = await rejection(
        tryConnect(withKey("127.0.0.1", { port: closedPort() }), knownStore()),
      );
      assert.equal(error.kind, "unreachable");
      assert.equal(error.message, "connection refused");
    });

    await t.step(
      "silent listener: no answer within the connect timeout",
      async () => {
        const listener = startSilentListener("127.0.0.1");
        try {
          const error = await rejection(
            tryConnect(
              withKey("127.0.0.1", { port: listener.port, connectTimeout: 1 }),
              knownStore(),
            ),
          );
          assert.equal(error.kind, "unreachable");
          assert.equal(error.message, "no answer within 1s");
        } finally {
          listener.close();
        }
      },
    );
  } finally {
    await cluster?.stop();
    await Deno.remove(keys.dir, { recursive: true });
  }
});

Deno.test("auth: password prompts only when offered, three tries", async () => {
  const asked: string[] = [];
  const auth = new Authenticator({
    agentSocket: null,
    askPassword: false,
    keyboardInteractive: true,
    prompt: (message) => {
      asked.push(message);
      return Promise.resolve(`guess${asked.length}`);
    },
  });
  const settings = settingsFor("127.0.0.1", 22, "alice");
  await auth.load([settings]);
  const nextMethod = (
    host: ReturnType<Authenticator["forHost"]>,
    offered: AuthenticationType[] | null,
  ) =>
    new Promise((resolve) =>
      host.authHandler(offered as AuthenticationType[], false, resolve)
    );

  const publicKeyOnly = auth.forHost(settings);
  assert.deepEqual(await nextMethod(publicKeyOnly, null), {
    type: "none",
    username: "alice",
  });
  assert.equal(await nextMethod(publicKeyOnly, ["publickey"]), false);
  assert.deepEqual(asked, []);

  const withPassword = auth.forHost(settings);
  await nextMethod(withPassword, null);
  for (const guess of ["guess1", "guess2", "guess3"]) {
    assert.deepEqual(
      await nextMethod(withPassword, ["publickey", "password"]),
      {
        type: "password",
        username: "alice",
        password: guess,
      },
    );
  }
  assert.equal(
    await nextMethod(withPassword, ["publickey", "password"]),
    false,
  );
  assert.equal(asked.length, 3);
  assert.equal(asked[0], "alice@127.0.0.1's password: ");
  assert.match(withPassword.failure().message, /3 wrong password/);
});

const PASSWORD = "open sesame";

/**
 * The harness's sshd cannot check passwords (no PAM, and the test user's
 * password is not ours to know): an ssh2 server in this process on loopback
 * offers only password and keyboard-interactive (one question), accepts
 * PASSWORD for either, runs any command as `echo ok`, notes every method a
 * client tries, and as a jump host never answers a request to forward (a
 * stuck jump host).
 */
async function startPasswordServer(dir: string): Promise<{
  port: number;
  publicLine: string;
  fingerprint: string;
  tried: string[];
  /** From now on presents the ed25519 host key at PATH, and re-keys every open connection. */
  presentKey(path: string): Promise<void>;
  /** Ends every connection, then stops listening. */
  close(): Promise<void>;
}> {
  const hostKey = await generateHostKey(dir);
  const tried: string[] = [];
  const offered: AuthenticationType[] = ["password", "keyboard-interactive"];
  const connections = new Set<ssh2.Connection>();
  const server = new ssh2.Server(
    { hostKeys: [await Deno.readTextFile(hostKey.path)] },
    (client) => {
      connections.add(client);
      client.on("close", () => connections.delete(client));
      client.on("authentication", (context) => {
        tried.push(context.method);
        if (context.method === "password" && context.password === PASSWORD) {
          return context.accept();
        }
        if (context.method === "keyboard-interactive") {
          return context.prompt(
            [{ prompt: "One-time code: ", echo: false }],
            (answers) =>
              answers[0] === PASSWORD
                ? context.accept()
                : context.reject(offered),
          );
        }
        context.reject(offered);
      });
      client.on("ready", () => {
        client.on("tcpip", () => {});
        client.on("session", (accept) => {
          accept().on("exec", (acceptExec) => {
            const channel = acceptExec();
            channel.write("ok\n");
            channel.exit(0);
            channel.end();
          });
        });
      });
      client.on("error", () => {});
    },
  );
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  return {
    port: (server.address() as { port: number }).port,
    publicLine: hostKey.publicLine,
    fingerprint: hostKey.fingerprint,
    tried,
    async presentKey(path) {
      const key = ssh2.utils.parseKey(await Deno.readTextFile(path));
      for (const client of connections) {
        // ssh2 has no API for this: every connection's protocol reads the
        // server's one table of host keys, by type, at each key exchange.
        (client as unknown as {
          _protocol: { _hostKeys: Record<string, unknown> };
        })._protocol._hostKeys["ssh-ed25519"] = key;
        client.rekey();
      }
    },
    close: () => {
      for (const client of connections) client.end();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

Deno.test("changed host key with checking off: no password or keyboard-interactive sent to it", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-changed-key-" });
  const server = await startPasswordServer(dir);
  try {
    const other = await generateHostKey(dir);
    const name = `[127.0.0.1]:${server.port}`;
    const knownHosts = (publicLine: string) => {
      const path = join(dir, `known_hosts_${crypto.randomUUID()}`);
      Deno.writeTextFileSync(path, `${name} ${publicLine}\n`);
      return path;
    };
    const settings = () =>
      settingsFor("127.0.0.1", server.port, "tester", {
        strictHostKeyChecking: "no",
      });
    const prompts: string[] = [];
    const answering: Partial<AuthOptions> = {
      keyboardInteractive: true,
      prompt: (message) => {
        prompts.push(message);
        return Promise.resolve(PASSWORD);
      },
    };

    await t.step(
      "the right key: the server's question is answered",
      async () => {
        server.tried.length = 0;
        prompts.length = 0;
        assert.equal(
          await tryConnect(
            settings(),
            knownHosts(server.publicLine),
            answering,
          ),
          "ok",
        );
        assert.deepEqual(prompts, ["One-time code: "]);
        assert.ok(server.tried.includes("keyboard-interactive"));
      },
    );

    await t.step("a changed key: refused without asking", async () => {
      server.tried.length = 0;
      prompts.length = 0;
      const warnings: HostKeyWarning[] = [];
      const path = knownHosts(other.publicLine);
      const error = await rejection(
        tryConnect(settings(), path, answering, {
          onWarning: (warning) => warnings.push(warning),
        }),
      );
      assert.equal(error.kind, "auth");
      assert.equal(
        error.message,
        "permission denied (password,keyboard-interactive); password and " +
          "keyboard-interactive authentication are disabled because the " +
          `host key of ${name} changed`,
      );
      assert.equal(
        error.hint,
        `if the host's key really changed, remove the old line with 'ssh-keygen -R "${name}" -f ${path}'`,
      );
      assert.deepEqual(prompts, []);
      assert.deepEqual(server.tried, ["none"]);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0].message, /^HOST KEY CHANGED/);
    });

    await t.step(
      "a changed key: the --ask-pass password is not sent",
      async () => {
        server.tried.length = 0;
        prompts.length = 0;
        const error = await rejection(
          tryConnect(settings(), knownHosts(other.publicLine), {
            askPassword: true,
            prompt: answering.prompt,
          }),
        );
        // Asked once when loading, as for every run; never sent.
        assert.equal(prompts.length, 1);
        assert.equal(error.kind, "auth");
        assert.match(error.message, /are disabled because the host key/);
        assert.ok(!server.tried.includes("password"), server.tried.join());
      },
    );

    // Last: the server keeps presenting the other key.
    await t.step(
      "another key at re-key: the connection ends, even with checking off",
      async () => {
        const settings = settingsFor("127.0.0.1", server.port, "tester", {
          strictHostKeyChecking: "no",
          userKnownHostsFiles: [knownHosts(server.publicLine)],
        });
        const auth = new Authenticator({
          agentSocket: null,
          askPassword: true,
          prompt: () => Promise.resolve(PASSWORD),
        });
        await auth.load([settings]);
        const warnings: HostKeyWarning[] = [];
        const connection = await connect(settings, {
          auth,
          knownHosts: new KnownHostsFiles(),
          onUnknownHost: null,
          onWarning: (warning) => warnings.push(warning),
        });
        try {
          const rekeyed = new Promise<string>((resolve) =>
            connection.client.once("handshake", () => resolve("re-keyed"))
          );
          await server.presentKey(other.path);
          const ended = await Promise.race([connection.closed, rekeyed]);
          assert.ok(ended instanceof RemoteError, `${ended}`);
          assert.equal(ended.kind, "host-key");
          assert.equal(
            ended.message,
            `the host key of ${name} changed during the connection (re-key): ` +
              `the server sent ${other.fingerprint} instead of ${server.fingerprint}`,
          );
          assert.equal(warnings.length, 0);
        } finally {
          connection.close();
          await connection.closed;
        }
      },
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("auth: an untrusted host gets no password and no prompt", async () => {
  const asked: string[] = [];
  const auth = new Authenticator({
    agentSocket: null,
    askPassword: true,
    keyboardInteractive: true,
    prompt: (message) => {
      asked.push(message);
      return Promise.resolve("secret");
    },
  });
  const settings = settingsFor("127.0.0.1", 22, "alice");
  await auth.load([settings]);
  assert.equal(asked.length, 1); // the --ask-pass password
  const host = auth.forHost(settings);
  host.withholdSecrets({ message: "the key changed", hint: "fix it" });
  const next = (offered: AuthenticationType[] | null) =>
    new Promise((resolve) =>
      host.authHandler(offered as AuthenticationType[], false, resolve)
    );
  assert.deepEqual(await next(null), { type: "none", username: "alice" });
  assert.equal(await next(["password", "keyboard-interactive"]), false);
  assert.equal(asked.length, 1);
  const error = host.failure();
  assert.equal(
    error.message,
    "permission denied (password,keyboard-interactive); the key changed",
  );
  assert.equal(error.hint, "fix it");
});

Deno.test("ProxyJump: a jump host that never opens the channel fails within the target's ConnectTimeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sessions-stuck-jump-" });
  const server = await startPasswordServer(dir);
  try {
    const knownHosts = join(dir, "known_hosts");
    await Deno.writeTextFile(
      knownHosts,
      `[127.0.0.1]:${server.port} ${server.publicLine}\n`,
    );
    const jump = settingsFor("127.0.0.1", server.port, "tester", {
      userKnownHostsFiles: [knownHosts],
    });
    const target = settingsFor("127.0.0.2", 22, "tester", {
      proxyJump: [jump],
      connectTimeout: 1,
    });
    let guard: ReturnType<typeof setTimeout> | undefined;
    const error = await rejection(
      Promise.race([
        tryConnect(target, knownHosts, {
          askPassword: true,
          prompt: () => Promise.resolve(PASSWORD),
        }),
        // Only so that a regression fails instead of hanging the run.
        new Promise((_, reject) => {
          guard = setTimeout(
            () => reject(new RemoteError("usage", "still waiting after 30s")),
            30_000,
          );
        }),
      ]).finally(() => clearTimeout(guard)),
    );
    assert.equal(error.kind, "unreachable");
    assert.equal(
      error.message,
      "the jump host did not reach 127.0.0.2 within 1s",
    );
    assert.ok(server.tried.includes("password"), "the jump host logged in");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * One sshd logging at DEBUG3 to a file, where what the client asked for
 * shows, and a known_hosts file with its key.
 */
async function startLoggingSshd(keys: ClientKeys) {
  const log = join(keys.dir, "sshd.log");
  const cluster = await startSshd({
    count: 1,
    keys,
    logLevel: "DEBUG3",
    logFile: log,
  });
  const knownHosts = join(keys.dir, "known_hosts");
  try {
    await Deno.writeTextFile(knownHosts, cluster.knownHosts);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    cluster,
    knownHosts,
    /** Stops sshd; its whole log. */
    async stopAndReadLog(): Promise<string> {
      await cluster.stop();
      return await Deno.readTextFile(log);
    },
  };
}

Deno.test("host key announcement (hostkeys-00): taken without asking the server for proofs", async () => {
  const keys = await createClientKeys();
  const { cluster, knownHosts, stopAndReadLog } = await startLoggingSshd(keys);
  try {
    // A keepalive a second: a global request from the client that sshd must
    // log, so the log is shown to record what the client asks.
    const settings = settingsFor(
      cluster.addresses[0],
      cluster.port,
      cluster.user,
      { identityFiles: [keys.key], serverAliveInterval: 1 },
    );
    assert.equal(
      await tryConnect(settings, knownHosts, {}, {}, "sleep 1.5; echo done"),
      "done",
    );
    const sshdLog = await stopAndReadLog();
    assert.match(sshdLog, /notify_hostkeys: sent \d+ hostkeys/);
    assert.match(sshdLog, /rtype keepalive@openssh\.com/);
    assert.doesNotMatch(sshdLog, /hostkeys-prove-00@openssh\.com/);
  } finally {
    await cluster.stop();
    await Deno.remove(keys.dir, { recursive: true });
  }
});

Deno.test("publickey: a key held here signs its first request, without asking the server first", async () => {
  const keys = await createClientKeys();
  // RSA too: its signature hash follows the algorithm ssh2 picked (rsa-sha2-*).
  const rsa = await generateKey(join(keys.dir, "id_rsa"), {
    type: "rsa",
    extra: ["-b", "2048"],
  });
  await Deno.writeTextFile(
    keys.authorizedKeys,
    await Deno.readTextFile(`${rsa}.pub`),
    { append: true },
  );
  const { cluster, knownHosts, stopAndReadLog } = await startLoggingSshd(keys);
  try {
    const loginWith = (identityFiles: string[]) =>
      tryConnect(
        settingsFor(cluster.addresses[0], cluster.port, cluster.user, {
          identityFiles,
        }),
        knownHosts,
        {},
        {},
        "echo in",
      );
    assert.equal(await loginWith([keys.key]), "in");
    assert.equal(await loginWith([rsa]), "in");
    // A refused signed request falls through to the next key.
    assert.equal(await loginWith([keys.unauthorizedKey, keys.key]), "in");
    const sshdLog = await stopAndReadLog();
    const signed = sshdLog.match(/publickey have \S+ signature/g) ?? [];
    assert.equal(signed.length, 4, "one signed request per key tried");
    assert.match(sshdLog, /publickey have rsa-sha2-(256|512) signature/);
    assert.doesNotMatch(sshdLog, /publickey test pkalg/);
  } finally {
    await cluster.stop();
    await Deno.remove(keys.dir, { recursive: true });
  }
});
