import assert from "node:assert/strict";
import { join } from "node:path";
import { targetByTriple, targetFor } from "../cli/release/targets.ts";
import { VERSION } from "../cli/version.ts";
import { runSessions } from "./helpers/sessions.ts";
import {
  corruptChecksums,
  publish,
  standInOutput,
  startReleaseServer,
} from "./helpers/release-server.ts";

const HERE = targetFor(Deno.build.os, Deno.build.arch)!;
const OLD_BINARY = "#!/bin/sh\necho old\n";

Deno.test("sessions upgrade against a local release server", async (t) => {
  await using server = await startReleaseServer();
  const dir = await Deno.makeTempDir();
  const binary = join(dir, "sessions");
  const upgrade = (args: string[]) =>
    runSessions(["upgrade", ...args], {
      env: { SESSIONS_BASE_URL: server.baseUrl, SESSIONS_UPGRADE_PATH: binary },
    });
  const resetBinary = async () => {
    await Deno.writeTextFile(binary, OLD_BINARY);
    await Deno.chmod(binary, 0o700);
  };
  /** The old binary is still there, unchanged, and nothing was left beside it. */
  const assertUnchanged = async () => {
    assert.equal(await Deno.readTextFile(binary), OLD_BINARY);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "sessions",
    ]);
  };
  try {
    await publish(server, "2.0.0", { latest: true });
    await publish(server, "1.0.0");

    await t.step(
      "without a version it installs the latest release, executable, quietly",
      async () => {
        await resetBinary();
        const result = await upgrade([]);
        assert.equal(result.stderr, "");
        assert.equal(result.code, 0);
        assert.equal(result.stdout, "");
        assert.equal(
          await Deno.readTextFile(binary),
          `#!/bin/sh\nprintf '%s' '${standInOutput("2.0.0", HERE)}'\n`,
        );
        assert.equal((await Deno.stat(binary)).mode! & 0o777, 0o755);
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
          "sessions",
        ]);
      },
    );

    await t.step(
      "a given version (with or without v) installs that release",
      async () => {
        for (const version of ["1.0.0", "v1.0.0"]) {
          await resetBinary();
          const result = await upgrade(["--version", version]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(
            await Deno.readTextFile(binary),
            new RegExp(`stand-in 1\\.0\\.0 ${HERE.triple}`),
          );
        }
      },
    );

    await t.step("a checksum mismatch leaves the old binary", async () => {
      await corruptChecksums(await publish(server, "6.6.6"));
      await resetBinary();
      const result = await upgrade(["--version", "6.6.6"]);
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `sessions: checksum mismatch for sessions-6.6.6-${HERE.triple}.${HERE.format} (expected ${
          "0".repeat(64)
        }, got ${
          /got ([0-9a-f]{64})/.exec(result.stderr)?.[1]
        }) (the binary was not changed)\n`,
      );
      await assertUnchanged();
    });

    await t.step(
      "a release without this platform's archive leaves the old binary",
      async () => {
        const other = HERE.triple === "aarch64-apple-darwin"
          ? targetByTriple("x86_64-apple-darwin")!
          : targetByTriple("aarch64-apple-darwin")!;
        await publish(server, "7.7.7", { targets: [other] });
        await resetBinary();
        const result = await upgrade(["--version", "7.7.7"]);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `sessions: the release at ${server.baseUrl}/download/v7.7.7 has no archive for ${HERE.triple} (the binary was not changed)\n`,
        );
        await assertUnchanged();
      },
    );

    await t.step(
      "an archive missing from the server leaves the old binary",
      async () => {
        const release = await publish(server, "8.8.8");
        const name = `sessions-8.8.8-${HERE.triple}.${HERE.format}`;
        await Deno.remove(join(release, name));
        await resetBinary();
        const result = await upgrade(["--version", "8.8.8"]);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `sessions: cannot download ${server.baseUrl}/download/v8.8.8/${name}: HTTP 404 (check the version or SESSIONS_BASE_URL; the binary was not changed)\n`,
        );
        await assertUnchanged();
      },
    );

    await t.step("an unknown version fails on SHA256SUMS", async () => {
      await resetBinary();
      const result = await upgrade(["--version", "9.9.9"]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /^sessions: cannot download .*\/download\/v9\.9\.9\/SHA256SUMS: HTTP 404 /,
      );
      await assertUnchanged();
    });

    await t.step("an unreachable server leaves the old binary", async () => {
      await resetBinary();
      const result = await runSessions(["upgrade", "--version", "1.0.0"], {
        env: {
          SESSIONS_BASE_URL: "http://127.0.0.1:9/releases",
          SESSIONS_UPGRADE_PATH: binary,
        },
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /^sessions: cannot download http:\/\/127\.0\.0\.1:9\/releases\/download\/v1\.0\.0\/SHA256SUMS: .*\(check the network or SESSIONS_BASE_URL; the binary was not changed\)\n$/,
      );
      await assertUnchanged();
    });

    await t.step(
      "something that is not a version is a usage error",
      async () => {
        await resetBinary();
        const result = await upgrade(["--version", "../../etc"]);
        assert.equal(result.code, 2);
        assert.equal(
          result.stderr,
          "sessions: '../../etc' is not a release version (give one like 1.2.3)\n",
        );
        await assertUnchanged();
      },
    );

    await t.step(
      "when the latest release is this version, nothing is downloaded or replaced",
      async () => {
        await publish(server, VERSION, { latest: true });
        await resetBinary();
        const before = server.requests.length;
        const result = await upgrade([]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(server.requests.slice(before), [
          "/latest/download/SHA256SUMS",
        ]);
        await assertUnchanged();
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sessions upgrade under deno run refuses in one line", async () => {
  const result = await runSessions(["upgrade"], {
    env: { SESSIONS_BASE_URL: "http://127.0.0.1:9/releases" },
  });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `sessions: upgrade replaces the compiled sessions binary, but this is running under ${Deno.execPath()} (update the checkout instead)\n`,
  );
});
