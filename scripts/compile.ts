/**
 * `deno task compile [--target TRIPLE]… [--dist DIR]`: one `deno compile`d
 * binary per target, with exactly the flags in scripts/runtime-flags.ts,
 * packed as dist/sessions-VERSION-TARGET.tar.gz (.zip for Windows), plus
 * dist/SHA256SUMS over every archive of this version in DIR.
 *
 * Each target is built in a temporary directory inside DIR and moved into
 * place only when its archive is complete, so a failure leaves no partial
 * archive. The first failure stops the script with one line naming the
 * target and the cause.
 */
import { parseArgs } from "node:util";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RUNTIME_FLAGS } from "./runtime-flags.ts";
import { VERSION } from "../cli/version.ts";
import { writeArchive } from "../cli/release/archive.ts";
import {
  archiveName,
  CHECKSUMS_FILE,
  formatChecksums,
  sha256Hex,
  type Target,
  targetByTriple,
  TARGETS,
} from "../cli/release/targets.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../", import.meta.url));

/** A failure already worded as the one line the script prints. */
export class CompileError extends Error {}

/**
 * Packs the executable at BINARY for TARGET into DIR/ARCHIVE via a temporary
 * file beside it, and returns the archive's path.
 */
export async function packageTarget(options: {
  version: string;
  target: Target;
  binary: string;
  outDir: string;
}): Promise<string> {
  const { version, target, outDir } = options;
  const data = await Deno.readFile(options.binary);
  const archive = writeArchive(target.format, [
    { name: target.binary, data, mode: 0o755 },
  ]);
  const finalPath = join(outDir, archiveName(version, target));
  const partialPath = `${finalPath}.partial`;
  try {
    await Deno.writeFile(partialPath, archive);
    await Deno.rename(partialPath, finalPath);
  } finally {
    await Deno.remove(partialPath).catch(() => {});
  }
  return finalPath;
}

/** Rewrites DIR/SHA256SUMS for every archive of VERSION present in DIR. */
export async function writeChecksums(
  outDir: string,
  version: string,
): Promise<string> {
  const sums = new Map<string, string>();
  for (const target of TARGETS) {
    const name = archiveName(version, target);
    try {
      sums.set(name, await sha256Hex(await Deno.readFile(join(outDir, name))));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const path = join(outDir, CHECKSUMS_FILE);
  await Deno.writeTextFile(`${path}.partial`, formatChecksums(sums));
  await Deno.rename(`${path}.partial`, path);
  return path;
}

/** The one line for a failed `deno compile`, from its standard error. */
export function describeCompileFailure(
  target: Target,
  stderr: string,
  code: number,
): string {
  const download = /error sending request for url \((\S+)\): (.*)$/m.exec(
    stderr,
  );
  if (download) {
    return `cannot build ${target.triple}: downloading the Deno runtime (denort) failed: ${
      download[1]
    }: ${download[2].trim()}`;
  }
  const error = /^error: (.*)$/m.exec(stderr);
  return error
    ? `cannot build ${target.triple}: deno compile failed: ${error[1].trim()}`
    : `cannot build ${target.triple}: deno compile exited with code ${code}`;
}

async function compileTarget(
  target: Target,
  outDir: string,
): Promise<string> {
  const workDir = await Deno.makeTempDir({ dir: outDir, prefix: ".build-" });
  try {
    // deno compile appends .exe for Windows targets on its own.
    const output = join(workDir, "sessions");
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--target",
        target.triple,
        "--output",
        output,
        ...RUNTIME_FLAGS,
        join(PROJECT_ROOT, "main.ts"),
      ],
      cwd: PROJECT_ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      throw new CompileError(
        describeCompileFailure(
          target,
          new TextDecoder().decode(result.stderr),
          result.code,
        ),
      );
    }
    return await packageTarget({
      version: VERSION,
      target,
      binary: join(workDir, target.binary),
      outDir,
    });
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

function selectedTargets(triples: string[]): Target[] {
  if (triples.length === 0) return [...TARGETS];
  return triples.flatMap((list) => list.split(",")).map((triple) => {
    const target = targetByTriple(triple.trim());
    if (!target) {
      throw new CompileError(
        `unknown target '${triple}' (one of: ${
          TARGETS.map((t) => t.triple).join(", ")
        })`,
      );
    }
    return target;
  });
}

async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        target: { type: "string", multiple: true, default: [] },
        dist: { type: "string", default: join(PROJECT_ROOT, "dist") },
      },
    });
    const targets = selectedTargets(values.target);
    const outDir = resolve(values.dist);
    await Deno.mkdir(outDir, { recursive: true });
    for (const target of targets) {
      const archive = await compileTarget(target, outDir);
      await writeChecksums(outDir, VERSION);
      console.log(`built ${basename(archive)}`);
    }
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`compile: ${message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
