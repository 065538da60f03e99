import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  describeCompileFailure,
  packageTarget,
  writeChecksums,
} from "../scripts/compile.ts";
import { readArchiveFile } from "../cli/release/archive.ts";
import {
  archiveName,
  parseChecksums,
  targetByTriple,
} from "../cli/release/targets.ts";
import { VERSION } from "../cli/version.ts";
import { PROJECT_ROOT } from "./helpers/sessions.ts";
import { runCommand } from "./helpers/command.ts";

const STAND_IN = "#!/bin/sh\necho 'sessions stand-in 9.9.9'\n";

function run(command: string, args: string[], cwd?: string) {
  return runCommand(command, args, { cwd, env: { NO_COLOR: "1" } });
}

Deno.test("packaging a stand-in executable", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const binary = join(dir, "stand-in");
    await Deno.writeTextFile(binary, STAND_IN);
    const out = join(dir, "dist");
    await Deno.mkdir(out);
    const linux = targetByTriple("x86_64-unknown-linux-gnu")!;
    const windows = targetByTriple("x86_64-pc-windows-msvc")!;

    await t.step(
      "tar.gz holds an executable 'sessions' that tar extracts",
      async () => {
        const archive = await packageTarget({
          version: "9.9.9",
          target: linux,
          binary,
          outDir: out,
        });
        assert.equal(
          archive,
          join(out, "sessions-9.9.9-x86_64-unknown-linux-gnu.tar.gz"),
        );
        const listing = await run("tar", ["-tvzf", archive]);
        assert.equal(listing.code, 0, listing.stderr);
        assert.match(listing.stdout, /^-rwxr-xr-x .* sessions\n$/);
        const unpacked = join(dir, "unpacked");
        await Deno.mkdir(unpacked);
        assert.equal(
          (await run("tar", ["-xzf", archive, "-C", unpacked])).code,
          0,
        );
        const ran = await run(join(unpacked, "sessions"), []);
        assert.equal(ran.stdout, "sessions stand-in 9.9.9\n");
        const read = readArchiveFile(
          "tar.gz",
          await Deno.readFile(archive),
          "sessions",
        );
        assert.equal(new TextDecoder().decode(read!), STAND_IN);
        assert.equal(
          readArchiveFile("tar.gz", await Deno.readFile(archive), "other"),
          null,
        );
      },
    );

    await t.step(
      "zip holds 'sessions.exe' that unzip extracts intact",
      async () => {
        const archive = await packageTarget({
          version: "9.9.9",
          target: windows,
          binary,
          outDir: out,
        });
        assert.equal(
          archive,
          join(out, "sessions-9.9.9-x86_64-pc-windows-msvc.zip"),
        );
        const test = await run("unzip", ["-t", archive]);
        assert.equal(test.code, 0, test.stdout + test.stderr);
        const content = await run("unzip", ["-p", archive, "sessions.exe"]);
        assert.equal(content.stdout, STAND_IN);
        const read = readArchiveFile(
          "zip",
          await Deno.readFile(archive),
          "sessions.exe",
        );
        assert.equal(new TextDecoder().decode(read!), STAND_IN);
      },
    );

    await t.step(
      "SHA256SUMS lists both archives and sha256sum -c accepts it",
      async () => {
        const sumsPath = await writeChecksums(out, "9.9.9");
        const sums = parseChecksums(await Deno.readTextFile(sumsPath));
        assert.deepEqual([...sums.keys()].sort(), [
          archiveName("9.9.9", windows),
          archiveName("9.9.9", linux),
        ]);
        const check = await run("sha256sum", ["-c", "SHA256SUMS"], out);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.deepEqual(
          [...Deno.readDirSync(out)].map((entry) => entry.name).sort(),
          [...sums.keys(), "SHA256SUMS"].sort(),
        );
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed runtime download is described in one line naming the target", async () => {
  const stderr = await Deno.readTextFile(
    new URL("./fixtures/deno-compile-no-denort.txt", import.meta.url),
  );
  assert.equal(
    describeCompileFailure(
      targetByTriple("x86_64-pc-windows-msvc")!,
      stderr,
      1,
    ),
    "cannot build x86_64-pc-windows-msvc: downloading the Deno runtime (denort) failed: " +
      "https://dl.deno.land/release/v2.9.6/denort-x86_64-pc-windows-msvc.zip: " +
      "client error (Connect): dns error: failed to lookup address information: Name or service not known",
  );
  assert.equal(
    describeCompileFailure(
      targetByTriple("aarch64-apple-darwin")!,
      'error: Module not found "x.ts".\n',
      1,
    ),
    'cannot build aarch64-apple-darwin: deno compile failed: Module not found "x.ts".',
  );
});

Deno.test("compile for one target: an archive with checksums, or one line and nothing in dist", async () => {
  const out = await Deno.makeTempDir();
  try {
    const target = "aarch64-unknown-linux-gnu";
    const result = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      join(PROJECT_ROOT, "scripts/compile.ts"),
      "--target",
      target,
      "--dist",
      out,
    ]);
    const left = [...Deno.readDirSync(out)].map((entry) => entry.name).sort();
    if (result.code === 0) {
      // A machine that reaches Deno's download host (the release workflow).
      assert.deepEqual(left, [
        "SHA256SUMS",
        `sessions-${VERSION}-${target}.tar.gz`,
      ]);
    } else {
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], new RegExp(`^compile: cannot build ${target}: `));
      assert.match(
        lines[0],
        /downloading the Deno runtime \(denort\) failed: https:\/\/\S+denort-aarch64-unknown-linux-gnu\.zip: /,
      );
      assert.deepEqual(left, []);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an unknown target is refused in one line", async () => {
  const result = await run(Deno.execPath(), [
    "run",
    "--allow-all",
    join(PROJECT_ROOT, "scripts/compile.ts"),
    "--target",
    "riscv64-unknown-linux-gnu",
    "--dist",
    "/nonexistent-never-created",
  ]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^compile: unknown target 'riscv64-unknown-linux-gnu' \(one of: x86_64-unknown-linux-gnu, .*\)\n$/,
  );
});

Deno.test("the program's module graph is embeddable by deno compile", async () => {
  const info = await run(
    Deno.execPath(),
    ["info", "--json", "main.ts"],
    PROJECT_ROOT,
  );
  assert.equal(info.code, 0, info.stderr);
  const graph = JSON.parse(info.stdout) as {
    modules: { specifier: string; error?: string; kind?: string }[];
  };
  const problems: string[] = [];
  const localFiles: string[] = [];
  for (const module of graph.modules) {
    if (module.error) problems.push(`${module.specifier}: ${module.error}`);
    else if (module.specifier.startsWith("file:")) {
      localFiles.push(fileURLToPath(module.specifier));
    } else if (!/^(npm|node):/.test(module.specifier)) {
      problems.push(`${module.specifier}: not a file:, npm: or node: module`);
    }
  }
  assert.ok(localFiles.length > 5, "the graph lists the program's own modules");
  for (const file of localFiles) {
    const source = await Deno.readTextFile(file);
    // A dynamic import deno compile cannot follow, or a read of a file beside the module.
    for (
      const match of source.matchAll(
        /\bimport\(\s*(?!["'][^"'`$]*["']\s*\))[^)]*\)/g,
      )
    ) {
      problems.push(
        `${file}: dynamic import with a computed specifier: ${match[0]}`,
      );
    }
    for (
      const match of source.matchAll(
        /import\.meta\.(url|dirname|filename|resolve)\b/g,
      )
    ) {
      problems.push(
        `${file}: uses ${match[0]} (source files are not there at run time)`,
      );
    }
  }
  assert.deepEqual(problems, []);
});
