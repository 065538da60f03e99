import assert from "node:assert/strict";
import { join } from "node:path";
import { homebrewFormula, scoopManifest } from "../scripts/manifests.ts";
import {
  archiveName,
  formatChecksums,
  parseChecksums,
  TARGETS,
} from "../cli/release/targets.ts";
import { VERSION } from "../cli/version.ts";
import { PROJECT_ROOT } from "./helpers/sessions.ts";
import { runCommand } from "./helpers/command.ts";

const BASE = "https://example.test/acme/sessions/releases";

/** A distinct fake hash per target, so a swapped url/hash pair is caught. */
function syntheticSums(version: string): Map<string, string> {
  return new Map(
    TARGETS.map((target, index) => [
      archiveName(version, target),
      String(index + 1).repeat(64),
    ]),
  );
}

function hasRuby(): boolean {
  try {
    return new Deno.Command("ruby", { args: ["--version"] }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test("the Homebrew formula", async (t) => {
  const sums = syntheticSums("1.2.3");
  const formula = homebrewFormula("1.2.3", sums, BASE);

  await t.step("pairs each platform block with its archive and hash", () => {
    const blocks = [
      ["on_macos", "on_arm", "aarch64-apple-darwin"],
      ["on_macos", "on_intel", "x86_64-apple-darwin"],
      ["on_linux", "on_arm", "aarch64-unknown-linux-gnu"],
      ["on_linux", "on_intel", "x86_64-unknown-linux-gnu"],
    ];
    for (const [os, cpu, triple] of blocks) {
      const name = `sessions-1.2.3-${triple}.tar.gz`;
      const osBlock = formula.slice(formula.indexOf(`  ${os} do`));
      const cpuBlock = osBlock.slice(osBlock.indexOf(`    ${cpu} do`));
      assert.ok(
        cpuBlock.startsWith(
          `    ${cpu} do\n      url "${BASE}/download/v1.2.3/${name}"\n` +
            `      sha256 "${sums.get(name)}"\n    end\n`,
        ),
        `${os} ${cpu} block:\n${cpuBlock.slice(0, 300)}`,
      );
    }
    assert.match(formula, /^class Sessions < Formula$/m);
    assert.match(
      formula,
      /^ {2}homepage "https:\/\/example.test\/acme\/sessions"$/m,
    );
    assert.match(formula, /^ {4}bin\.install "sessions"$/m);
    assert.match(formula, /^ {2}test do\n.*sessions --version/m);
  });

  await t.step({
    name: "is valid Ruby (ruby -c)",
    ignore: !hasRuby(),
    fn: async () => {
      const dir = await Deno.makeTempDir();
      try {
        await Deno.writeTextFile(join(dir, "sessions.rb"), formula);
        const result = await runCommand("ruby", [
          "-c",
          join(dir, "sessions.rb"),
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "Syntax OK\n");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

  await t.step(
    "names the missing line when SHA256SUMS lacks a platform",
    () => {
      const partial = new Map(sums);
      partial.delete("sessions-1.2.3-aarch64-apple-darwin.tar.gz");
      assert.throws(
        () => homebrewFormula("1.2.3", partial, BASE),
        /SHA256SUMS has no line for sessions-1\.2\.3-aarch64-apple-darwin\.tar\.gz/,
      );
    },
  );
});

Deno.test("the scoop manifest", () => {
  const sums = syntheticSums("1.2.3");
  const manifest = JSON.parse(scoopManifest("1.2.3", sums, BASE));
  const zip = "sessions-1.2.3-x86_64-pc-windows-msvc.zip";
  assert.equal(manifest.version, "1.2.3");
  assert.deepEqual(manifest.architecture, {
    "64bit": { url: `${BASE}/download/v1.2.3/${zip}`, hash: sums.get(zip) },
  });
  assert.equal(manifest.bin, "sessions.exe");
  assert.equal(manifest.homepage, "https://example.test/acme/sessions");
  assert.deepEqual(manifest.checkver, {
    github: "https://example.test/acme/sessions",
  });
  assert.deepEqual(manifest.autoupdate, {
    architecture: {
      "64bit": {
        url:
          `${BASE}/download/v$version/sessions-$version-x86_64-pc-windows-msvc.zip`,
      },
    },
    hash: { url: "$baseurl/SHA256SUMS" },
  });
  assert.equal(typeof manifest.description, "string");
});

Deno.test("deno task manifests writes both files from dist/SHA256SUMS", async () => {
  const dist = await Deno.makeTempDir();
  try {
    const sums = syntheticSums(VERSION);
    await Deno.writeTextFile(join(dist, "SHA256SUMS"), formatChecksums(sums));
    const result = await runCommand(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-write",
      join(PROJECT_ROOT, "scripts/manifests.ts"),
      "--dist",
      dist,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      await Deno.readTextFile(join(dist, "sessions.rb")),
      homebrewFormula(VERSION, parseChecksums(formatChecksums(sums))),
    );
    assert.equal(
      JSON.parse(await Deno.readTextFile(join(dist, "sessions.json"))).version,
      VERSION,
    );

    await Deno.remove(join(dist, "SHA256SUMS"));
    const missing = await runCommand(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-write",
      join(PROJECT_ROOT, "scripts/manifests.ts"),
      "--dist",
      dist,
    ]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^manifests: .*SHA256SUMS.* \(run 'deno task compile' first\)\n$/,
    );
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});
