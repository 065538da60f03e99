import assert from "node:assert/strict";
import { delimiter, join } from "node:path";
import {
  DEFAULT_RELEASES_URL,
  targetByTriple,
  TARGETS,
} from "../cli/release/targets.ts";
import { PROJECT_ROOT } from "./helpers/sessions.ts";
import { runCommand } from "./helpers/command.ts";
import {
  corruptChecksums,
  publish,
  standInOutput,
  startReleaseServer,
} from "./helpers/release-server.ts";

const INSTALL_SH = join(PROJECT_ROOT, "install.sh");
const decoder = new TextDecoder();

/** The tools install.sh may use; the tests run it with only these on PATH. */
const TOOLS = [
  "uname",
  "mktemp",
  "rm",
  "mkdir",
  "cp",
  "chmod",
  "mv",
  "tar",
  "gzip",
  "id",
  "sha256sum",
];

function which(tool: string): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(delimiter)) {
    try {
      const path = join(dir, tool);
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${tool} is not installed`);
}

/** A directory of symlinks to exactly TOOLS and EXTRA, to use as PATH. */
async function toolDir(parent: string, extra: string[]): Promise<string> {
  const bin = await Deno.makeTempDir({ dir: parent, prefix: "tools-" });
  for (const tool of [...TOOLS, ...extra]) {
    await Deno.symlink(which(tool), join(bin, tool));
  }
  return bin;
}

function runInstall(env: Record<string, string>) {
  return runCommand(which("dash"), [INSTALL_SH], { env, clearEnv: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function runInstalled(path: string): Promise<string> {
  const output = await new Deno.Command(path, { stdout: "piped" }).output();
  return decoder.decode(output.stdout);
}

Deno.test("install.sh is POSIX sh that dash and sh parse", async () => {
  for (const shell of ["sh", "dash"]) {
    const result = await new Deno.Command(which(shell), {
      args: ["-n", INSTALL_SH],
    }).output();
    assert.equal(result.code, 0, `${shell} -n install.sh`);
  }
  const text = await Deno.readTextFile(INSTALL_SH);
  assert.match(text, /^#!\/bin\/sh\n/);
  assert.ok(
    text.includes(`DEFAULT_BASE_URL="${DEFAULT_RELEASES_URL}"`),
    "install.sh and cli/release/targets.ts name the same releases URL",
  );
});

Deno.test("install.sh against a local release server", async (t) => {
  await using server = await startReleaseServer();
  const work = await Deno.makeTempDir();
  try {
    await publish(server, "2.0.0", { latest: true });
    await publish(server, "1.0.0");
    const withCurl = await toolDir(work, ["curl"]);
    const withWgetOnly = await toolDir(work, ["wget"]);
    let installs = 0;
    const freshDir = () => join(work, `bin-${++installs}`);
    const baseEnv = (path: string, dir: string) => ({
      PATH: path,
      HOME: work,
      SESSIONS_BASE_URL: server.baseUrl,
      SESSIONS_INSTALL_DIR: dir,
    });

    await t.step(
      "installs the latest release for this machine and says how to reach it",
      async () => {
        const dir = freshDir();
        const result = await runInstall(baseEnv(withCurl, dir));
        assert.equal(result.code, 0, result.stderr);
        const here = TARGETS.find((target) =>
          target.os === Deno.build.os && target.arch === Deno.build.arch
        )!;
        assert.equal(
          await runInstalled(join(dir, "sessions")),
          standInOutput("2.0.0", here),
        );
        assert.equal(result.stderr, "");
        assert.match(
          result.stdout,
          new RegExp(`^installed sessions 2\\.0\\.0 to ${dir}/sessions\n`),
        );
        assert.match(result.stdout, new RegExp(`${dir} is not on your PATH`));
        assert.match(result.stdout, new RegExp(`export PATH=\\\\?"${dir}:`));
      },
    );

    for (
      const [os, cpu, triple] of [
        ["Linux", "amd64", "x86_64-unknown-linux-gnu"],
        ["Linux", "arm64", "aarch64-unknown-linux-gnu"],
        ["Darwin", "x86_64", "x86_64-apple-darwin"],
        ["Darwin", "arm64", "aarch64-apple-darwin"],
      ]
    ) {
      await t.step(
        `SESSIONS_VERSION=1.0.0 on ${os} ${cpu} picks ${triple}, over an older binary`,
        async () => {
          const dir = freshDir();
          await Deno.mkdir(dir);
          await Deno.writeTextFile(join(dir, "sessions"), "old");
          const result = await runInstall({
            ...baseEnv(`${withCurl}:${dir}`, dir),
            SESSIONS_VERSION: "v1.0.0",
            SESSIONS_OS: os,
            SESSIONS_ARCH: cpu,
          });
          assert.equal(result.code, 0, result.stderr);
          assert.equal(
            await runInstalled(join(dir, "sessions")),
            standInOutput("1.0.0", targetByTriple(triple)!),
          );
          assert.equal(
            result.stdout,
            `installed sessions 1.0.0 to ${dir}/sessions\n`,
            "no PATH advice when on PATH",
          );
          assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
            "sessions",
          ]);
        },
      );
    }

    await t.step("without curl it downloads with wget", async () => {
      const dir = freshDir();
      const before = server.requests.length;
      const result = await runInstall(baseEnv(withWgetOnly, dir));
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        await runInstalled(join(dir, "sessions")),
        /^sessions stand-in 2\.0\.0 /,
      );
      assert.deepEqual(server.requests.slice(before).length, 2);
    });

    await t.step(
      "a checksum mismatch installs nothing and says so",
      async () => {
        const bad = await publish(server, "6.6.6");
        await corruptChecksums(bad);
        const dir = freshDir();
        const result = await runInstall({
          ...baseEnv(withCurl, dir),
          SESSIONS_VERSION: "6.6.6",
        });
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /^sessions install: checksum mismatch for sessions-6\.6\.6-[a-z0-9_]+-[a-z-]+\.tar\.gz \(expected 0{64}, got [0-9a-f]{64}\); nothing installed\n$/,
        );
        assert.equal(result.stdout, "");
        assert.equal(await exists(dir), false);
      },
    );

    await t.step(
      "a release without this platform's archive installs nothing",
      async () => {
        await publish(server, "7.7.7", {
          targets: [targetByTriple("x86_64-unknown-linux-gnu")!],
        });
        const dir = freshDir();
        const result = await runInstall({
          ...baseEnv(withCurl, dir),
          SESSIONS_VERSION: "7.7.7",
          SESSIONS_OS: "Linux",
          SESSIONS_ARCH: "aarch64",
        });
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `sessions install: the release at ${server.baseUrl}/download/v7.7.7 has no archive for aarch64-unknown-linux-gnu; nothing installed\n`,
        );
        assert.equal(await exists(dir), false);
      },
    );

    await t.step(
      "an archive listed in SHA256SUMS but missing on the server installs nothing",
      async () => {
        const release = await publish(server, "8.8.8");
        await Deno.remove(
          join(release, "sessions-8.8.8-x86_64-unknown-linux-gnu.tar.gz"),
        );
        const dir = freshDir();
        const result = await runInstall({
          ...baseEnv(withCurl, dir),
          SESSIONS_VERSION: "8.8.8",
          SESSIONS_OS: "Linux",
          SESSIONS_ARCH: "x86_64",
        });
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          new RegExp(
            `sessions install: cannot download ${server.baseUrl}/download/v8\\.8\\.8/sessions-8\\.8\\.8-x86_64-unknown-linux-gnu\\.tar\\.gz; nothing installed\n$`,
          ),
        );
        assert.equal(await exists(dir), false);
      },
    );

    await t.step("an unknown version installs nothing", async () => {
      const dir = freshDir();
      const result = await runInstall({
        ...baseEnv(withWgetOnly, dir),
        SESSIONS_VERSION: "9.9.9",
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /sessions install: cannot download .*\/download\/v9\.9\.9\/SHA256SUMS \(is the version or SESSIONS_BASE_URL right\?\); nothing installed\n$/,
      );
      assert.equal(await exists(dir), false);
    });

    for (
      const [os, cpu, message] of [
        [
          "SunOS",
          "x86_64",
          "unsupported OS 'SunOS' (releases exist for Linux, macOS and Windows); nothing installed",
        ],
        [
          "Linux",
          "riscv64",
          "unsupported CPU 'riscv64' (releases exist for x86_64 and aarch64); nothing installed",
        ],
        [
          "MINGW64_NT-10.0",
          "x86_64",
          "unsupported OS 'MINGW64_NT-10.0' for this script (on Windows use scoop or the .zip from the release); nothing installed",
        ],
      ]
    ) {
      await t.step(
        `${os} on ${cpu} is refused before any download`,
        async () => {
          const dir = freshDir();
          const before = server.requests.length;
          const result = await runInstall({
            ...baseEnv(withCurl, dir),
            SESSIONS_OS: os,
            SESSIONS_ARCH: cpu,
          });
          assert.equal(result.code, 1);
          assert.equal(result.stderr, `sessions install: ${message}\n`);
          assert.equal(server.requests.length, before);
          assert.equal(await exists(dir), false);
        },
      );
    }

    await t.step(
      "a user who is not root gets ~/.local/bin by default",
      async () => {
        const tools = await toolDir(work, ["curl"]);
        // A stand-in `id` (the tests run as root; /usr/local/bin is not to be touched).
        await Deno.remove(join(tools, "id"));
        await Deno.writeTextFile(join(tools, "id"), "#!/bin/sh\necho 1000\n");
        await Deno.chmod(join(tools, "id"), 0o755);
        const home = join(work, "home");
        const result = await runInstall({
          PATH: tools,
          HOME: home,
          SESSIONS_BASE_URL: server.baseUrl,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(
            `^installed sessions 2\\.0\\.0 to ${home}/\\.local/bin/sessions\n`,
          ),
        );
        assert.match(
          await runInstalled(join(home, ".local", "bin", "sessions")),
          /^sessions stand-in 2\.0\.0 /,
        );
      },
    );

    await t.step("with neither curl nor wget it says so", async () => {
      const dir = freshDir();
      const result = await runInstall(baseEnv(await toolDir(work, []), dir));
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /^sessions install: neither curl nor wget is installed/,
      );
      assert.equal(await exists(dir), false);
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
