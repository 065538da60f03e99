/**
 * A release tree like GitHub's (`releases/latest/download/FILE`,
 * `releases/download/vVERSION/FILE`) built around a stand-in executable and
 * served on 127.0.0.1, for install.sh and `sessions upgrade` tests.
 */
import { dirname, join, normalize } from "node:path";
import { packageTarget, writeChecksums } from "../../scripts/compile.ts";
import {
  CHECKSUMS_FILE,
  type Target,
  TARGETS,
} from "../../cli/release/targets.ts";

/** What the stand-in for VERSION on TARGET prints. */
export function standInOutput(version: string, target: Target): string {
  return `sessions stand-in ${version} ${target.triple}\n`;
}

/**
 * Writes archives of VERSION for TARGETS and their SHA256SUMS into DIR
 * (created), each archive holding a shell script that prints standInOutput.
 */
export async function writeRelease(
  dir: string,
  version: string,
  targets: readonly Target[] = TARGETS,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const scratch = await Deno.makeTempDir();
  try {
    for (const target of targets) {
      const binary = join(scratch, target.binary);
      await Deno.writeTextFile(
        binary,
        `#!/bin/sh\nprintf '%s' '${standInOutput(version, target)}'\n`,
      );
      await packageTarget({ version, target, binary, outDir: dir });
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  await writeChecksums(dir, version);
}

export interface ReleaseServer extends AsyncDisposable {
  /** The releases URL: what SESSIONS_BASE_URL takes. */
  baseUrl: string;
  /** The served tree's directory; `releases/` below it is the base URL. */
  root: string;
  /** Paths (below the base URL) requested so far. */
  requests: string[];
}

/** Serves a fresh temporary directory; put releases under `root/releases/`. */
export async function startReleaseServer(): Promise<ReleaseServer> {
  const root = await Deno.makeTempDir();
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      requests.push(path.replace(/^\/releases/, ""));
      const file = normalize(join(root, path));
      if (!file.startsWith(root + "/")) {
        return new Response("forbidden", { status: 403 });
      }
      try {
        return new Response(await Deno.readFile(file));
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/releases`,
    root,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Serves VERSION as both `download/vVERSION/` and, when LATEST, `latest/download/`. */
export async function publish(
  server: ReleaseServer,
  version: string,
  options: { latest?: boolean; targets?: readonly Target[] } = {},
): Promise<string> {
  const dir = join(server.root, "releases", "download", `v${version}`);
  await writeRelease(dir, version, options.targets);
  if (options.latest) {
    const latest = join(server.root, "releases", "latest", "download");
    await Deno.mkdir(dirname(latest), { recursive: true });
    await Deno.remove(latest, { recursive: true }).catch(() => {});
    await Deno.symlink(dir, latest);
  }
  return dir;
}

/** Replaces the hash of every line of DIR/SHA256SUMS by a wrong one. */
export async function corruptChecksums(dir: string): Promise<void> {
  const path = join(dir, CHECKSUMS_FILE);
  const text = await Deno.readTextFile(path);
  await Deno.writeTextFile(
    path,
    text.replace(/^[0-9a-f]{64}/gm, "0".repeat(64)),
  );
}
