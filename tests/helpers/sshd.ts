/**
 * Real OpenSSH sshd processes standing in for many hosts: each address is a
 * 127.0.x.y loopback address (any of 127.0.0.0/8 works without setup), all on
 * one high port per cluster. One sshd accepts at most 16 ListenAddress lines,
 * so a cluster starts one sshd per 16 addresses, all sharing the cluster's
 * host key. Every cluster gets its own freshly generated host key unless one
 * is passed, so a test can stage a "changed key" with a second cluster.
 *
 * Also hostile endpoints: a listener that accepts and never speaks, and a
 * closed port. Only loopback addresses are ever used.
 */
import { join } from "node:path";
import type { HostSettings } from "../../remote/types.ts";

const SSHD = "/usr/sbin/sshd";
const ADDRESSES_PER_SSHD = 16;

/** The client side: key pairs the tests authenticate with. */
export interface ClientKeys {
  dir: string;
  /** Unencrypted ed25519 key listed in authorized_keys. */
  key: string;
  /** ed25519 key encrypted with `passphrase`, listed in authorized_keys. */
  encryptedKey: string;
  passphrase: string;
  /** A valid key the servers do not accept. */
  unauthorizedKey: string;
  /** The authorized_keys file (key + encryptedKey). */
  authorizedKeys: string;
}

/** A host key pair and its public line (`ssh-ed25519 AAAA…`). */
export interface HostKey {
  path: string;
  publicLine: string;
  /** `SHA256:…` as ssh-keygen -lf shows it. */
  fingerprint: string;
}

export interface SshdCluster {
  /** The 127.0.x.y addresses, in order. */
  addresses: string[];
  port: number;
  hostKey: HostKey;
  /** known_hosts content listing the host key for `[address]:port` of every address. */
  knownHosts: string;
  /** The user to log in as (the user running the tests). */
  user: string;
  /** PIDs of the sshd processes (one per 16 addresses). */
  pids: number[];
  /** The sshd serving this address (to kill one host mid-command). */
  pidFor(address: string): number;
  /** Kills every sshd by PID and waits for it to exit; idempotent. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** How many stand-in hosts. */
  count: number;
  keys: ClientKeys;
  /** Reuse a host key (default: a fresh one for this cluster). */
  hostKey?: HostKey;
  /** Third octet of the first address (127.0.X.1); defaults to a random one so clusters rarely share addresses. */
  firstSubnet?: number;
  /** sshd LogLevel (default ERROR, printed to the test's stderr unless `logFile`). */
  logLevel?: string;
  /** Append sshd's log to this file instead of the test's stderr. */
  logFile?: string;
  /**
   * More sshd_config lines, e.g. `SetEnv TMUX_TMPDIR=/tmp/x` for a private
   * remote tmux, or `LoginGraceTime 1`; they override the defaults here.
   */
  extraConfig?: string[];
}

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`,
    );
  }
  return decoder.decode(output.stdout);
}

/** Generates a key pair with ssh-keygen; `extra` adds e.g. `["-m", "PEM"]`. */
export async function generateKey(
  path: string,
  options: { type?: string; passphrase?: string; extra?: string[] } = {},
): Promise<string> {
  await run("ssh-keygen", [
    "-q",
    "-t",
    options.type ?? "ed25519",
    "-N",
    options.passphrase ?? "",
    "-C",
    "sessions-test",
    "-f",
    path,
    ...(options.extra ?? []),
  ]);
  return path;
}

async function fingerprintOf(publicKeyPath: string): Promise<string> {
  const line = await run("ssh-keygen", [
    "-l",
    "-E",
    "sha256",
    "-f",
    publicKeyPath,
  ]);
  return line.split(" ")[1];
}

export async function generateHostKey(dir: string): Promise<HostKey> {
  const path = join(dir, `host_ed25519_${crypto.randomUUID().slice(0, 8)}`);
  await generateKey(path);
  const publicLine = (await Deno.readTextFile(`${path}.pub`)).split(" ")
    .slice(0, 2).join(" ");
  return { path, publicLine, fingerprint: await fingerprintOf(`${path}.pub`) };
}

/** Creates the client key pairs in `dir` (a temp dir when omitted). */
export async function createClientKeys(dir?: string): Promise<ClientKeys> {
  dir ??= await Deno.makeTempDir({ prefix: "sessions-ssh-keys-" });
  const passphrase = "correct horse battery";
  const [key, encryptedKey, unauthorizedKey] = await Promise.all([
    generateKey(join(dir, "id_ed25519")),
    // Few KDF rounds: ssh2 derives the key in pure JS, and tests should be quick.
    generateKey(join(dir, "id_encrypted"), { passphrase, extra: ["-a", "2"] }),
    generateKey(join(dir, "id_unauthorized")),
  ]);
  const authorizedKeys = join(dir, "authorized_keys");
  await Deno.writeTextFile(
    authorizedKeys,
    (await Deno.readTextFile(`${key}.pub`)) +
      (await Deno.readTextFile(`${encryptedKey}.pub`)),
  );
  return {
    dir,
    key,
    encryptedKey,
    passphrase,
    unauthorizedKey,
    authorizedKeys,
  };
}

/** known_hosts lines naming `publicLine` for `[address]:port` of each address. */
export function knownHostsLines(
  addresses: string[],
  port: number,
  publicLine: string,
): string {
  return addresses.map((address) => `[${address}]:${port} ${publicLine}\n`)
    .join("");
}

function assertLoopback(address: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) {
    throw new Error(`test endpoints must be 127.x.y.z, not ${address}`);
  }
}

/** `count` addresses 127.0.S.1 … (250 per subnet, skipping .0 and .255). */
function loopbackAddresses(
  count: number,
  firstSubnet: number,
): string[] {
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const subnet = firstSubnet + Math.floor(i / 250);
    if (subnet > 254) throw new Error("too many loopback addresses asked for");
    addresses.push(`127.0.${subnet}.${1 + (i % 250)}`);
  }
  return addresses;
}

function portFreeOnAll(addresses: string[], port: number): boolean {
  const listeners: Deno.Listener[] = [];
  try {
    for (const hostname of addresses) {
      listeners.push(Deno.listen({ hostname, port }));
    }
    return true;
  } catch {
    return false;
  } finally {
    for (const listener of listeners) listener.close();
  }
}

function ensurePrivilegeSeparationDir(): void {
  // sshd started as root insists on this directory (Debian's service creates it at boot).
  if (Deno.uid() !== 0) return;
  try {
    Deno.statSync("/run/sshd");
  } catch {
    Deno.mkdirSync("/run/sshd", { mode: 0o755, recursive: true });
  }
}

function sshdConfig(
  dir: string,
  addresses: string[],
  port: number,
  hostKey: HostKey,
  keys: ClientKeys,
  index: number,
  logLevel: string,
  extraConfig: string[],
): string {
  const setEnv = extraConfig.filter((line) => /^SetEnv\s/i.test(line))
    .flatMap((line) => line.trim().split(/\s+/).slice(1));
  return [
    ...addresses.map((address) => `ListenAddress ${address}:${port}`),
    // sshd keeps the first value of most keywords: the caller's lines win.
    ...extraConfig.filter((line) => !/^SetEnv\s/i.test(line)),
    `HostKey ${hostKey.path}`,
    `AuthorizedKeysFile ${keys.authorizedKeys}`,
    `PidFile ${join(dir, `sshd-${index}.pid`)}`,
    "UsePAM no",
    "StrictModes no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "AllowAgentForwarding yes",
    "AllowTcpForwarding yes",
    // sshd keeps the last MaxStartups, not the first: only when the caller sets none.
    ...(extraConfig.some((line) => /^MaxStartups\s/i.test(line))
      ? []
      : ["MaxStartups 1000:30:1000"]),
    "MaxSessions 1000",
    "MaxAuthTries 20",
    "LoginGraceTime 60",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    `LogLevel ${logLevel}`,
    // sshd uses only the first SetEnv line: one line for ours and the caller's.
    ["SetEnv", `HOME=${join(dir, "home")}`, ...setEnv].join(" "),
    "",
  ].join("\n");
}

async function currentUser(): Promise<string> {
  return (await run("id", ["-un"])).trim();
}

/** Starts sshd(s) for `count` loopback addresses; call `stop()` in a finally. */
export async function startSshd(options: SshdOptions): Promise<SshdCluster> {
  ensurePrivilegeSeparationDir();
  const dir = await Deno.makeTempDir({ prefix: "sessions-sshd-" });
  // The remote HOME: an empty directory, so the test user's shell start-up
  // files (a slow ~/.bashrc, which bash reads for ssh commands) stay out.
  await Deno.mkdir(join(dir, "home"));
  const hostKey = options.hostKey ?? await generateHostKey(dir);
  const firstSubnet = options.firstSubnet ??
    10 + Math.floor(Math.random() * 200);
  const addresses = loopbackAddresses(options.count, firstSubnet);
  addresses.forEach(assertLoopback);
  const user = await currentUser();

  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if (!portFreeOnAll(addresses, port)) continue;
    const children: Deno.ChildProcess[] = [];
    const groups: string[][] = [];
    for (let i = 0; i < addresses.length; i += ADDRESSES_PER_SSHD) {
      groups.push(addresses.slice(i, i + ADDRESSES_PER_SSHD));
    }
    const stop = async () => {
      for (const child of children.splice(0)) {
        // The listener leaves its connection processes (and their commands) running when it exits.
        for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
          try {
            Deno.kill(pid, "SIGTERM");
          } catch { /* already gone */ }
        }
        await child.status;
      }
    };
    try {
      for (const [index, group] of groups.entries()) {
        const config = join(dir, `sshd-${index}.conf`);
        await Deno.writeTextFile(
          config,
          sshdConfig(
            dir,
            group,
            port,
            hostKey,
            options.keys,
            index,
            options.logLevel ?? "ERROR",
            options.extraConfig ?? [],
          ),
        );
        children.push(
          new Deno.Command(SSHD, {
            args: [
              "-D",
              ...(options.logFile ? ["-E", options.logFile] : ["-e"]),
              "-f",
              config,
            ],
            stdin: "null",
            stdout: "inherit",
            stderr: "inherit",
          }).spawn(),
        );
      }
      if (!await allListening(dir, addresses, port, children)) {
        await stop();
        continue; // lost a race for the port: try another one
      }
    } catch (error) {
      await stop();
      throw error;
    }
    const pids = children.map((child) => child.pid);
    return {
      addresses,
      port,
      hostKey,
      knownHosts: knownHostsLines(addresses, port, hostKey.publicLine),
      user,
      pids,
      pidFor: (address) =>
        pids[Math.floor(addresses.indexOf(address) / ADDRESSES_PER_SSHD)],
      async stop() {
        await stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  throw new Error("could not find a free port for sshd");
}

/** PIDs of every process below `pid`, read from /proc. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    // The command name (field 2) may hold spaces: the parent PID follows its closing paren.
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry.name));
    children.set(parent, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * Waits for every sshd to write its PidFile (done after binding its sockets),
 * then checks that each address is really taken (an sshd that loses one bind
 * logs it and carries on).
 */
async function allListening(
  dir: string,
  addresses: string[],
  port: number,
  children: Deno.ChildProcess[],
): Promise<boolean> {
  let exited = false;
  for (const child of children) child.status.then(() => exited = true);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    const written = children.every((_, index) => {
      try {
        return Deno.statSync(join(dir, `sshd-${index}.pid`)).size > 0;
      } catch {
        return false;
      }
    });
    if (written) {
      return addresses.every((address) => !portFreeOnAll([address], port));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** A TCP listener that accepts connections and never sends a byte. */
export interface SilentListener {
  address: string;
  port: number;
  close(): void;
}

export function startSilentListener(address = "127.0.0.1"): SilentListener {
  assertLoopback(address);
  const listener = Deno.listen({ hostname: address, port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const connection of listener) held.push(connection);
    } catch { /* closed */ }
  })();
  return {
    address,
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const connection of held.splice(0)) {
        try {
          connection.close();
        } catch { /* already closed by the peer */ }
      }
    },
  };
}

/** A port on `address` that nothing listens on (bound, then released). */
/**
 * The processes on this machine matching PATTERN (`pgrep -af` lines, joined):
 * the loopback sshds run the remote commands here, so a test can see that
 * none is left.
 */
export async function processesMatching(pattern: string): Promise<string> {
  const output = await new Deno.Command("pgrep", {
    args: ["-af", pattern],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout).trim().split("\n").filter(
    (line) => line !== "" && !line.includes("pgrep"),
  ).join("\n");
}

export function closedPort(address = "127.0.0.1"): number {
  assertLoopback(address);
  const listener = Deno.listen({ hostname: address, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * An ssh_config that sends every host to CLUSTER with the client key KEY and
 * KNOWN_HOSTS; EXTRA lines (e.g. "StrictHostKeyChecking yes") go in the block.
 */
export function clusterSshConfig(
  cluster: SshdCluster,
  key: string,
  knownHosts: string,
  extra: readonly string[] = [],
): string {
  return [
    "Host *",
    `  Port ${cluster.port}`,
    `  User ${cluster.user}`,
    `  IdentityFile ${key}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${knownHosts}`,
    ...extra.map((line) => `  ${line}`),
    "",
  ].join("\n");
}

/**
 * Writes DIR/known_hosts (every address of CLUSTER) and DIR/ssh_config
 * (`clusterSshConfig` with KEY and EXTRA); returns both paths.
 */
export async function writeClusterSshFiles(
  dir: string,
  cluster: SshdCluster,
  key: string,
  extra: readonly string[] = [],
): Promise<{ knownHosts: string; sshConfig: string }> {
  const knownHosts = join(dir, "known_hosts");
  await Deno.writeTextFile(knownHosts, cluster.knownHosts);
  const sshConfig = join(dir, "ssh_config");
  await Deno.writeTextFile(
    sshConfig,
    clusterSshConfig(cluster, key, knownHosts, extra),
  );
  return { knownHosts, sshConfig };
}

/** Resolved settings for one test host, as remote/ssh-config.ts would produce them. */
export function testHostSettings(
  address: string,
  port: number,
  user: string,
  overrides: Partial<HostSettings> = {},
): HostSettings {
  return {
    target: { label: address, host: address },
    hostname: address,
    port,
    user,
    identityFiles: [],
    identityFilesExplicit: true,
    commandLineIdentityFiles: [],
    identitiesOnly: false,
    proxyJump: [],
    connectTimeout: null,
    serverAliveInterval: 0,
    serverAliveCountMax: 3,
    strictHostKeyChecking: null,
    userKnownHostsFiles: [],
    globalKnownHostsFiles: [],
    hostKeyAlias: null,
    forwardAgent: false,
    ...overrides,
  };
}
