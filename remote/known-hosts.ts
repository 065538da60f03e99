/**
 * known_hosts as OpenSSH reads it: plain names, `[host]:port`, several
 * comma-separated names, wildcards and `!negation`, hashed `|1|salt|hash`
 * names (HMAC-SHA1 of the name keyed with the salt), `@revoked` and
 * `@cert-authority` markers, comments and blank lines.
 *
 * Each file is read once per run (KnownHostsFiles caches them). Plain names
 * are indexed in a Map; patterns are few and tested per lookup; hashed
 * names cost one HMAC per entry and name, so they are only checked when the
 * plain and pattern entries do not already accept the key, per name only
 * once, and with a small SHA-1 of our own whose keyed states are computed
 * once per entry (node:crypto's createHmac costs ~60 us a call under Deno:
 * 200 hosts x 200 hashed lines took 2.4 s; this takes a few ms).
 *
 * New keys are appended as plain (unhashed) lines, whatever HashKnownHosts
 * says: `ssh-keygen -H` hashes a file afterwards.
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { RemoteError } from "./errors.ts";
import { matchPatternList } from "./patterns.ts";

/** What the known_hosts files say about one key for one host name. */
export type HostKeyLookup =
  | { status: "match" }
  | { status: "unknown" }
  /** A different key of the same type is recorded at file:line. */
  | { status: "mismatch"; file: string; line: number }
  /** The key is marked `@revoked` at file:line. */
  | { status: "revoked"; file: string; line: number }
  /**
   * No plain key for the host, but an `@cert-authority` line names it:
   * the host expects certificate checking, which sessions does not do.
   */
  | { status: "cert-authority-unsupported"; file: string; line: number };

export interface KnownHostsEntry {
  file: string;
  line: number;
  marker: "revoked" | "cert-authority" | null;
  /** The name field as written (a pattern list, or `|1|salt|hash`). */
  names: string;
  hashed: HashedName | null;
  /** The type inside the key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
  keyType: string;
  /** The key blob in base64, as in the file. */
  key: string;
}

/** The key type named at the start of an SSH public key blob, or null when malformed. */
export function blobKeyType(blob: Uint8Array): string | null {
  if (blob.length < 4) return null;
  const length = new DataView(blob.buffer, blob.byteOffset, blob.byteLength)
    .getUint32(0);
  if (length === 0 || 4 + length > blob.length) return null;
  return new TextDecoder().decode(blob.subarray(4, 4 + length));
}

/**
 * The fields after the type name in each key type's blob (RFC 4253 §6.6,
 * RFC 5656 §3.1, RFC 8709 §4).
 */
const KEY_BLOB_FIELDS: Record<string, readonly ("string" | "mpint")[]> = {
  "ssh-ed25519": ["string"],
  "ssh-rsa": ["mpint", "mpint"],
  "ssh-dss": ["mpint", "mpint", "mpint", "mpint"],
  "ecdsa-sha2-nistp256": ["string", "string"],
  "ecdsa-sha2-nistp384": ["string", "string"],
  "ecdsa-sha2-nistp521": ["string", "string"],
};

/**
 * Why a server's host key blob is not the one encoding of its key, or null.
 * known_hosts lines are compared byte for byte, and ssh2 verifies a
 * signature with a key parsed leniently (bytes after an ed25519 or ECDSA key
 * ignored, the curve name unchecked): a server holding a revoked key could
 * append a byte and no longer match its @revoked line. OpenSSH parses
 * strictly and compares parsed keys; refusing every other encoding here
 * gives the same result. Types this does not know are left to ssh2.
 */
export function hostKeyBlobProblem(blob: Uint8Array): string | null {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let offset = 0;
  const next = (): Uint8Array | null => {
    if (offset + 4 > blob.length) return null;
    const length = view.getUint32(offset);
    if (offset + 4 + length > blob.length) return null;
    const field = blob.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return field;
  };
  const typeBytes = next();
  if (typeBytes === null) return "it is truncated";
  const type = new TextDecoder().decode(typeBytes);
  const fields = KEY_BLOB_FIELDS[type];
  if (!fields) return null;
  const values: Uint8Array[] = [];
  for (const kind of fields) {
    const value = next();
    if (value === null) return "it is truncated";
    if (
      kind === "mpint" && value.length > 0 &&
      ((value[0] & 0x80) !== 0 ||
        (value[0] === 0 && (value.length === 1 || value[1] < 0x80)))
    ) {
      return "a number in it is negative or padded";
    }
    values.push(value);
  }
  if (offset !== blob.length) return "it has bytes after the key";
  if (type === "ssh-ed25519" && values[0].length !== 32) {
    return "its ed25519 key is not 32 bytes";
  }
  if (
    type.startsWith("ecdsa-sha2-") &&
    new TextDecoder().decode(values[0]) !== type.slice("ecdsa-sha2-".length)
  ) {
    return "its curve does not match its type";
  }
  return null;
}

// ------------------------------------------------- hashed names: HMAC-SHA1

/** HMAC-SHA1 keyed with the salt, with the key's inner and outer SHA-1 states precomputed. */
interface HashedName {
  inner: Uint32Array;
  outer: Uint32Array;
  expected: Uint32Array;
}

const SHA1_INITIAL = new Uint32Array([
  0x67452301,
  0xefcdab89,
  0x98badcfe,
  0x10325476,
  0xc3d2e1f0,
]);
const schedule = new Uint32Array(80);

/** One SHA-1 compression of `words[offset..offset+16]` from `state` into `out`. */
function sha1Block(
  state: Uint32Array,
  words: Uint32Array,
  offset: number,
  out: Uint32Array,
): void {
  for (let i = 0; i < 16; i++) schedule[i] = words[offset + i];
  for (let i = 16; i < 80; i++) {
    const x = schedule[i - 3] ^ schedule[i - 8] ^ schedule[i - 14] ^
      schedule[i - 16];
    schedule[i] = (x << 1) | (x >>> 31);
  }
  let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  for (let i = 0; i < 80; i++) {
    let f: number, k: number;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + schedule[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  out[0] = state[0] + a;
  out[1] = state[1] + b;
  out[2] = state[2] + c;
  out[3] = state[3] + d;
  out[4] = state[4] + e;
}

/** Big-endian words of `bytes` padded as SHA-1 pads a message that follows `prefixBytes` already hashed. */
function paddedWords(bytes: Uint8Array, prefixBytes: number): Uint32Array {
  const blocks = Math.ceil((bytes.length + 9) / 64);
  const words = new Uint32Array(blocks * 16);
  const padded = new Uint8Array(blocks * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 4, (prefixBytes + bytes.length) * 8);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4);
  return words;
}

function keyedState(salt: Uint8Array, pad: number): Uint32Array {
  const block = new Uint8Array(64);
  for (let i = 0; i < 64; i++) block[i] = (salt[i] ?? 0) ^ pad;
  const view = new DataView(block.buffer);
  const words = new Uint32Array(16);
  for (let i = 0; i < 16; i++) words[i] = view.getUint32(i * 4);
  const state = new Uint32Array(5);
  sha1Block(SHA1_INITIAL, words, 0, state);
  return state;
}

function parseHashedName(names: string): HashedName | null {
  const match = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(names);
  if (!match) return null;
  const salt = Buffer.from(match[1], "base64");
  const hash = Buffer.from(match[2], "base64");
  if (salt.length !== 20 || hash.length !== 20) return null;
  const expected = new Uint32Array(5);
  for (let i = 0; i < 5; i++) expected[i] = hash.readUInt32BE(i * 4);
  return {
    inner: keyedState(salt, 0x36),
    outer: keyedState(salt, 0x5c),
    expected,
  };
}

/** A name prepared once for HMAC checks against many hashed entries. */
class HashSubject {
  readonly innerWords: Uint32Array;
  readonly #outerWords = new Uint32Array(16);
  readonly #state = new Uint32Array(5);

  constructor(name: string) {
    this.innerWords = paddedWords(new TextEncoder().encode(name), 64);
    this.#outerWords[5] = 0x80000000;
    this.#outerWords[15] = (64 + 20) * 8;
  }

  matches(hashed: HashedName): boolean {
    const state = this.#state;
    sha1Block(hashed.inner, this.innerWords, 0, state);
    for (let offset = 16; offset < this.innerWords.length; offset += 16) {
      sha1Block(state, this.innerWords, offset, state);
    }
    this.#outerWords.set(state);
    sha1Block(hashed.outer, this.#outerWords, 0, state);
    const expected = hashed.expected;
    return state[0] === expected[0] && state[1] === expected[1] &&
      state[2] === expected[2] && state[3] === expected[3] &&
      state[4] === expected[4];
  }
}

// ------------------------------------------------------------- parsing

/**
 * The entries of one known_hosts file. Lines OpenSSH would skip (bad key,
 * unknown marker, old RSA1 format) are skipped too.
 */
export function parseKnownHosts(
  content: string,
  file: string,
): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  content.split("\n").forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === "" || fields[0].startsWith("#")) return;
    let marker: KnownHostsEntry["marker"] = null;
    if (fields[0].startsWith("@")) {
      if (fields[0] === "@revoked") marker = "revoked";
      else if (fields[0] === "@cert-authority") marker = "cert-authority";
      else return;
      fields.shift();
    }
    const [names, , key] = fields;
    if (names === undefined || key === undefined) return;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return;
    const keyType = blobKeyType(Buffer.from(key, "base64"));
    if (keyType === null) return;
    let hashed: KnownHostsEntry["hashed"] = null;
    if (names.startsWith("|")) {
      hashed = parseHashedName(names);
      if (hashed === null) return;
    }
    entries.push({
      file,
      line: index + 1,
      marker,
      names,
      hashed,
      keyType,
      key,
    });
  });
  return entries;
}

/** One file, indexed for lookups by name. */
class IndexedFile {
  readonly #byName = new Map<string, KnownHostsEntry[]>();
  readonly #patterns: KnownHostsEntry[] = [];
  readonly #hashed: KnownHostsEntry[] = [];

  constructor(readonly entries: KnownHostsEntry[]) {
    for (const entry of entries) this.addEntry(entry);
  }

  addEntry(entry: KnownHostsEntry): void {
    if (entry.hashed) {
      this.#hashed.push(entry);
    } else if (/[*?!]/.test(entry.names)) {
      this.#patterns.push(entry);
    } else {
      for (const name of entry.names.toLowerCase().split(",")) {
        const list = this.#byName.get(name);
        if (list) list.push(entry);
        else this.#byName.set(name, [entry]);
      }
    }
  }

  /** Entries whose plain name or pattern covers `name`. */
  cheapMatches(name: string): KnownHostsEntry[] {
    const found = [...(this.#byName.get(name) ?? [])];
    for (const entry of this.#patterns) {
      if (matchPatternList(name, entry.names, true) === 1) found.push(entry);
    }
    return found;
  }

  hashedMatches(subject: HashSubject): KnownHostsEntry[] {
    return this.#hashed.filter((entry) => subject.matches(entry.hashed!));
  }

  /** Hashed `@revoked` entries for KEY naming the subject: the key is compared before any HMAC. */
  hashedRevocations(subject: HashSubject, key: string): KnownHostsEntry[] {
    return this.#hashed.filter((entry) =>
      entry.marker === "revoked" && entry.key === key &&
      subject.matches(entry.hashed!)
    );
  }
}

const byPosition = (a: KnownHostsEntry, b: KnownHostsEntry) => a.line - b.line;

/**
 * The verdict on `key` from the entries naming the host, in file order:
 * revoked beats everything, then a matching key, then a different key of
 * the same type, then a certificate authority naming the host.
 */
export function judgeEntries(
  entries: readonly KnownHostsEntry[],
  keyType: string,
  key: string,
): HostKeyLookup {
  const revoked = entries.find((e) => e.marker === "revoked" && e.key === key);
  if (revoked) {
    return { status: "revoked", file: revoked.file, line: revoked.line };
  }
  const plain = entries.filter((e) => e.marker === null);
  if (plain.some((e) => e.key === key)) return { status: "match" };
  const changed = plain.find((e) => e.keyType === keyType);
  if (changed) {
    return { status: "mismatch", file: changed.file, line: changed.line };
  }
  const authority = entries.find((e) => e.marker === "cert-authority");
  if (authority) {
    return {
      status: "cert-authority-unsupported",
      file: authority.file,
      line: authority.line,
    };
  }
  return { status: "unknown" };
}

/** `SHA256:` and the unpadded base64 SHA-256 of the key blob, as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(key: Uint8Array): string {
  return "SHA256:" +
    createHash("sha256").update(key).digest("base64").replace(/=+$/, "");
}

/** Every known_hosts file of a run, each read once, shared by all hosts. */
export class KnownHostsFiles {
  readonly #files = new Map<string, IndexedFile>();
  readonly #recording = new Map<string, Promise<void>>();

  /**
   * Runs WRITE once per ID (file, name and key) for the whole run: each
   * host has a store of its own, and two hosts can accept one key at once
   * (aliases of one HostName, targets behind one jump host).
   */
  recordOnce(id: string, write: () => Promise<void>): Promise<void> {
    let recording = this.#recording.get(id);
    if (recording === undefined) {
      recording = write();
      this.#recording.set(id, recording);
    }
    return recording;
  }

  /** The parsed file (empty when it does not exist). */
  file(path: string): IndexedFile {
    let indexed = this.#files.get(path);
    if (indexed === undefined) {
      let content = "";
      try {
        content = Deno.readTextFileSync(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          throw new RemoteError(
            "host-key",
            `cannot read known hosts file ${path}: ${(error as Error).message}`,
            "check its permissions",
          );
        }
      }
      indexed = new IndexedFile(parseKnownHosts(content, path));
      this.#files.set(path, indexed);
    }
    return indexed;
  }

  /**
   * The view one host uses: its UserKnownHostsFile list (the first one is
   * where new keys go), then its GlobalKnownHostsFile list.
   */
  store(
    userFiles: readonly string[],
    globalFiles: readonly string[],
  ): KnownHostsStore {
    return new KnownHostsStore(this, [...userFiles], [...globalFiles]);
  }
}

export class KnownHostsStore {
  readonly #hashedCache = new Map<string, KnownHostsEntry[]>();

  constructor(
    readonly files: KnownHostsFiles,
    readonly userFiles: string[],
    readonly globalFiles: string[],
  ) {}

  #paths(): string[] {
    return [...this.userFiles, ...this.globalFiles];
  }

  #hashed(name: string): KnownHostsEntry[] {
    let found = this.#hashedCache.get(name);
    if (found === undefined) {
      const subject = new HashSubject(name);
      found = this.#paths().flatMap((path) =>
        this.files.file(path).hashedMatches(subject)
      );
      this.#hashedCache.set(name, found);
    }
    return found;
  }

  /** Every entry naming `name` (`host`, `[host]:port` or a HostKeyAlias), in file and line order. */
  entriesFor(name: string): KnownHostsEntry[] {
    const lower = name.toLowerCase();
    const found = [
      ...this.#paths().flatMap((path) =>
        this.files.file(path).cheapMatches(lower)
      ),
      ...this.#hashed(lower),
    ];
    const order = this.#paths();
    return found.sort((a, b) =>
      order.indexOf(a.file) - order.indexOf(b.file) || byPosition(a, b)
    );
  }

  /** Looks `key` (a public key blob of type keyType) up for `name`, without I/O after the first read. */
  check(name: string, keyType: string, key: Uint8Array): HostKeyLookup {
    const base64 = Buffer.from(key).toString("base64");
    const lower = name.toLowerCase();
    const cheap = this.#paths().flatMap((path) =>
      this.files.file(path).cheapMatches(lower)
    );
    const cheapVerdict = judgeEntries(cheap, keyType, base64);
    if (cheapVerdict.status === "revoked") return cheapVerdict;
    if (cheapVerdict.status === "match") {
      // Only a hashed @revoked line for this very key can overturn a plain
      // match; checking just those keeps an HMAC per hashed entry off every host.
      const subject = new HashSubject(lower);
      // Files in order, lines in order within each: the first is the one to name.
      const [revoked] = this.#paths().flatMap((path) =>
        this.files.file(path).hashedRevocations(subject, base64)
      );
      return revoked
        ? { status: "revoked", file: revoked.file, line: revoked.line }
        : cheapVerdict;
    }
    return judgeEntries(this.entriesFor(name), keyType, base64);
  }

  /** Key types recorded for `name`, so the client can prefer them in key exchange. */
  knownKeyTypes(name: string): string[] {
    return [
      ...new Set(
        this.entriesFor(name).filter((e) => e.marker === null).map((e) =>
          e.keyType
        ),
      ),
    ];
  }

  /**
   * Appends `name keyType base64` to the first UserKnownHostsFile (creating
   * it and its directory, mode 0700, as ssh does), unless it is there
   * already or being written for another host of the run. One append-mode
   * write per line, so concurrent writers do not clobber each other.
   */
  add(name: string, keyType: string, key: Uint8Array): Promise<void> {
    const id = `${this.userFiles[0]} ${name} ${
      Buffer.from(key).toString("base64")
    }`;
    return this.files.recordOnce(
      id,
      () =>
        this.check(name, keyType, key).status === "match"
          ? Promise.resolve()
          : this.#append(name, keyType, key),
    );
  }

  async #append(name: string, keyType: string, key: Uint8Array): Promise<void> {
    const path = this.userFiles[0];
    if (path === undefined) {
      throw new RemoteError(
        "host-key",
        `cannot record the host key of ${name}: UserKnownHostsFile is none`,
        "set UserKnownHostsFile in the SSH config",
      );
    }
    const base64 = Buffer.from(key).toString("base64");
    try {
      await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const file = await Deno.open(path, {
        append: true,
        create: true,
        read: true,
        mode: 0o644,
      });
      try {
        const size = (await file.stat()).size;
        let prefix = "";
        if (size > 0) {
          const last = new Uint8Array(1);
          await file.seek(size - 1, Deno.SeekMode.Start);
          await file.read(last);
          if (last[0] !== 0x0a) prefix = "\n";
        }
        const text = `${prefix}${name} ${keyType} ${base64}\n`;
        const bytes = new TextEncoder().encode(text);
        let written = 0;
        while (written < bytes.length) {
          written += await file.write(bytes.subarray(written));
        }
      } finally {
        file.close();
      }
    } catch (error) {
      throw new RemoteError(
        "host-key",
        `cannot record the host key of ${name} in ${path}: ${
          (error as Error).message
        }`,
        "check the file's permissions",
      );
    }
    const lineCount = Deno.readTextFileSync(path).split("\n").length - 1;
    this.files.file(path).addEntry({
      file: path,
      line: lineCount,
      marker: null,
      names: name,
      hashed: null,
      keyType: blobKeyType(key) ?? keyType,
      key: base64,
    });
    this.#hashedCache.clear();
  }
}
