/**
 * What a release is made of: the targets, their archive names, the
 * SHA256SUMS format and where releases are downloaded from. scripts/compile.ts,
 * scripts/manifests.ts and `sessions upgrade` share these; install.sh repeats
 * the naming in sh (tests/install_test.ts checks that the two agree).
 */

export type ArchiveFormat = "tar.gz" | "zip";

export interface Target {
  /** The Rust-style triple `deno compile --target` takes. */
  triple: string;
  /** Deno.build.os / Deno.build.arch of a machine that runs this target. */
  os: "linux" | "darwin" | "windows";
  arch: "x86_64" | "aarch64";
  format: ArchiveFormat;
  /** The executable's name inside the archive. */
  binary: string;
}

export const TARGETS: readonly Target[] = [
  {
    triple: "x86_64-unknown-linux-gnu",
    os: "linux",
    arch: "x86_64",
    format: "tar.gz",
    binary: "sessions",
  },
  {
    triple: "aarch64-unknown-linux-gnu",
    os: "linux",
    arch: "aarch64",
    format: "tar.gz",
    binary: "sessions",
  },
  {
    triple: "x86_64-apple-darwin",
    os: "darwin",
    arch: "x86_64",
    format: "tar.gz",
    binary: "sessions",
  },
  {
    triple: "aarch64-apple-darwin",
    os: "darwin",
    arch: "aarch64",
    format: "tar.gz",
    binary: "sessions",
  },
  {
    triple: "x86_64-pc-windows-msvc",
    os: "windows",
    arch: "x86_64",
    format: "zip",
    binary: "sessions.exe",
  },
];

/**
 * Where releases live. `<base>/latest/download/FILE` is the newest release
 * and `<base>/download/vVERSION/FILE` a given one, as on GitHub; a mirror
 * (SESSIONS_BASE_URL) must keep that layout.
 */
export const DEFAULT_RELEASES_URL =
  "https://github.com/sessions-cli/sessions/releases";

export const CHECKSUMS_FILE = "SHA256SUMS";

export function targetByTriple(triple: string): Target | undefined {
  return TARGETS.find((target) => target.triple === triple);
}

export function targetFor(os: string, arch: string): Target | undefined {
  return TARGETS.find((target) => target.os === os && target.arch === arch);
}

export function archiveName(version: string, target: Target): string {
  return `sessions-${version}-${target.triple}.${target.format}`;
}

/** The version in an archive name of TARGET, or null when NAME is not one. */
export function versionOfArchive(name: string, target: Target): string | null {
  const suffix = `-${target.triple}.${target.format}`;
  if (!name.startsWith("sessions-") || !name.endsWith(suffix)) return null;
  const version = name.slice("sessions-".length, -suffix.length);
  return version === "" ? null : version;
}

/** VERSION null means the latest release. */
export function releaseFileUrl(
  base: string,
  version: string | null,
  file: string,
): string {
  const root = base.replace(/\/+$/, "");
  return version === null
    ? `${root}/latest/download/${file}`
    : `${root}/download/v${version.replace(/^v/, "")}/${file}`;
}

/** `sha256sum` output: "HASH  NAME" per line, lower-case hex. */
export function formatChecksums(sums: ReadonlyMap<string, string>): string {
  return [...sums].map(([name, hash]) => `${hash}  ${name}\n`).join("");
}

/** Parses `sha256sum` output (text or `*` binary mode); ignores lines that are not checksums. */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (match) sums.set(match[2], match[1].toLowerCase());
  }
  return sums;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(
    new Uint8Array(digest),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}
