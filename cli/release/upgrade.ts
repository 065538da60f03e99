/**
 * `sessions upgrade`: downloads this platform's release archive, checks it
 * against the release's SHA256SUMS, and puts the binary in place of the
 * running one with a rename, so any failure before that rename leaves the
 * old binary as it was.
 */
import { basename, dirname, join } from "node:path";
import { CliError, usageError } from "../errors.ts";
import { readArchiveFile } from "./archive.ts";
import {
  CHECKSUMS_FILE,
  parseChecksums,
  releaseFileUrl,
  sha256Hex,
  type Target,
  versionOfArchive,
} from "./targets.ts";

export interface UpgradeRequest {
  /** A release version, or null for the latest. */
  version: string | null;
  /** The version running now; the latest release equal to it is not downloaded again. */
  currentVersion: string;
  /** Releases URL (see DEFAULT_RELEASES_URL for the layout). */
  baseUrl: string;
  /** The executable to replace. */
  binaryPath: string;
  target: Target;
}

export interface UpgradeResult {
  /** The version now installed at binaryPath. */
  version: string;
  /** False when the latest release is the running version. */
  replaced: boolean;
}

const VERSION_PATTERN = /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/;

/** A usage error for a --version that cannot be a release version. */
export function checkVersion(version: string): string {
  if (!VERSION_PATTERN.test(version)) {
    throw usageError(
      `'${version}' is not a release version`,
      "give one like 1.2.3",
    );
  }
  return version.replace(/^v/, "");
}

/** Why this process cannot upgrade itself (running under `deno run`), or null. */
export function notUpgradable(execPath: string): string | null {
  return /^deno(\.exe)?$/i.test(basename(execPath))
    ? `upgrade replaces the compiled sessions binary, but this is running under ${execPath}`
    : null;
}

async function download(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    throw new CliError(
      `cannot download ${url}: ${cause}`,
      undefined,
      "check the network or SESSIONS_BASE_URL; the binary was not changed",
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new CliError(
      `cannot download ${url}: HTTP ${response.status}`,
      undefined,
      "check the version or SESSIONS_BASE_URL; the binary was not changed",
    );
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** The archive of TARGET that SUMS lists for VERSION (any version when null), with its hash. */
function findArchive(
  sums: ReadonlyMap<string, string>,
  version: string | null,
  target: Target,
): { name: string; version: string; sha256: string } | null {
  for (const [name, sha256] of sums) {
    const found = versionOfArchive(name, target);
    if (found !== null && (version === null || found === version)) {
      return { name, version: found, sha256 };
    }
  }
  return null;
}

export async function upgrade(request: UpgradeRequest): Promise<UpgradeResult> {
  const { baseUrl, target, binaryPath } = request;
  const version = request.version === null
    ? null
    : checkVersion(request.version);
  const sumsUrl = releaseFileUrl(baseUrl, version, CHECKSUMS_FILE);
  const sums = parseChecksums(
    new TextDecoder().decode(await download(sumsUrl)),
  );
  const archive = findArchive(sums, version, target);
  if (!archive) {
    throw new CliError(
      `the release at ${dirname(sumsUrl)} has no archive for ${target.triple}`,
      undefined,
      "the binary was not changed",
    );
  }
  if (version === null && archive.version === request.currentVersion) {
    return { version: archive.version, replaced: false };
  }
  const bytes = await download(releaseFileUrl(baseUrl, version, archive.name));
  const actual = await sha256Hex(bytes);
  if (actual !== archive.sha256) {
    throw new CliError(
      `checksum mismatch for ${archive.name} (expected ${archive.sha256}, got ${actual})`,
      undefined,
      "the binary was not changed",
    );
  }
  let binary: Uint8Array | null;
  try {
    binary = readArchiveFile(target.format, bytes, target.binary);
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    throw new CliError(
      `cannot unpack ${archive.name}: ${cause}`,
      undefined,
      "the binary was not changed",
    );
  }
  if (!binary) {
    throw new CliError(
      `${archive.name} holds no ${target.binary}`,
      undefined,
      "the binary was not changed",
    );
  }
  await replaceFile(binaryPath, binary, target.os === "windows");
  return { version: archive.version, replaced: true };
}

/**
 * Writes DATA beside PATH and renames it over PATH. Windows refuses to
 * replace a running executable but lets it be renamed, so there the old
 * binary first moves aside to PATH.old.
 */
async function replaceFile(
  path: string,
  data: Uint8Array,
  windows: boolean,
): Promise<void> {
  const staged = join(
    dirname(path),
    `.${basename(path)}.upgrade-${Deno.pid}`,
  );
  const aside = `${path}.old`;
  try {
    await Deno.writeFile(staged, data, { mode: 0o755 });
    if (!windows) await Deno.chmod(staged, 0o755);
    if (windows) {
      await Deno.remove(aside).catch(() => {});
      await Deno.rename(path, aside);
      try {
        await Deno.rename(staged, path);
      } catch (error) {
        await Deno.rename(aside, path);
        throw error;
      }
    } else {
      await Deno.rename(staged, path);
    }
  } catch (error) {
    await Deno.remove(staged).catch(() => {});
    const cause = error instanceof Error ? error.message : String(error);
    throw new CliError(
      `cannot replace ${path}: ${cause}`,
      undefined,
      "check that you may write to its directory; the binary was not changed",
    );
  }
}
