/**
 * zellij's listing parser, on outputs written exactly as zellij v0.45.0
 * prints them (zellij-utils/src/sessions.rs: `{name} {[Created … ago]}
 * {suffix}`, ages from humantime's format_duration). zellij cannot be
 * installed here, so these samples follow the source, not a recording.
 */
import assert from "node:assert/strict";
import {
  isNoSessionsOutput,
  parseZellijAge,
  parseZellijSessions,
  zellijNameProblem,
  zellijSocketDir,
} from "../backends/zellij.ts";

const NOW = new Date("2026-11-24T12:00:00Z");

function ago(seconds: number): Date {
  return new Date(NOW.getTime() - seconds * 1000);
}

Deno.test("zellij listing", async (t) => {
  await t.step("plain lines end in a space after the age", () => {
    const stdout = "build [Created 2h 5m 3s ago] \n" +
      "web [Created 45s ago] \n";
    assert.deepEqual(parseZellijSessions(stdout, NOW), [
      {
        name: "build",
        created: ago(2 * 3600 + 5 * 60 + 3),
        current: false,
        exited: false,
      },
      { name: "web", created: ago(45), current: false, exited: false },
    ]);
  });

  await t.step("current and exited suffixes", () => {
    const stdout =
      "old [Created 1day 3h ago] (EXITED - attach to resurrect)\n" +
      "here [Created 10m ago] (current)\n" +
      "fresh [Created 0s ago] \n";
    assert.deepEqual(parseZellijSessions(stdout, NOW), [
      {
        name: "old",
        created: ago(86_400 + 3 * 3600),
        current: false,
        exited: true,
      },
      { name: "here", created: ago(600), current: true, exited: false },
      { name: "fresh", created: NOW, current: false, exited: false },
    ]);
  });

  await t.step("the coloured form parses like the plain one", () => {
    const stdout =
      "\x1b[32;1mbuild\x1b[m [Created \x1b[35;1m2h 5m 3s\x1b[m ago] \n" +
      "\x1b[32;1mold\x1b[m [Created \x1b[35;1m3days\x1b[m ago] (\x1b[31;1mEXITED\x1b[m - attach to resurrect)\n" +
      "\x1b[32;1mhere\x1b[m [Created \x1b[35;1m1m 1s\x1b[m ago] (current)\n";
    assert.deepEqual(parseZellijSessions(stdout, NOW), [
      {
        name: "build",
        created: ago(2 * 3600 + 5 * 60 + 3),
        current: false,
        exited: false,
      },
      { name: "old", created: ago(3 * 86_400), current: false, exited: true },
      { name: "here", created: ago(61), current: true, exited: false },
    ]);
  });

  await t.step("names with spaces, unicode and look-alike text", () => {
    const stdout = "my project [Created 5s ago] \n" +
      "café ☕ 日本 [Created 7s ago] (EXITED - attach to resurrect)\n" +
      "odd [Created x ago] name [Created 9s ago] \n" +
      "(current) [Created 1s ago] \n";
    const parsed = parseZellijSessions(stdout, NOW);
    assert.deepEqual(parsed.map((s) => [s.name, s.exited, s.current]), [
      ["my project", false, false],
      ["café ☕ 日本", true, false],
      ["odd [Created x ago] name", false, false],
      ["(current)", false, false],
    ]);
    assert.deepEqual(parsed[2].created, ago(9));
  });

  await t.step("CRLF, blank lines and foreign lines", () => {
    const stdout = "a [Created 1s ago] \r\n\nsome warning\nb [Created 2s ago] ";
    assert.deepEqual(
      parseZellijSessions(stdout, NOW).map((s) => s.name),
      ["a", "b"],
    );
  });

  await t.step("an age in an unknown form gives no created time", () => {
    const [session] = parseZellijSessions(
      "a [Created a while ago] \n",
      NOW,
    );
    assert.equal(session.name, "a");
    assert.equal(session.created, null);
  });

  await t.step("empty output is no sessions", () => {
    assert.deepEqual(parseZellijSessions("", NOW), []);
  });
});

Deno.test("zellij ages (humantime)", () => {
  assert.equal(parseZellijAge("0s"), 0);
  assert.equal(parseZellijAge("2h 5m 3s"), 7503);
  assert.equal(parseZellijAge("1day"), 86_400);
  assert.equal(parseZellijAge("2days 1h"), 2 * 86_400 + 3600);
  assert.equal(
    parseZellijAge("1year 2months 3days 4h"),
    31_557_600 + 2 * 2_630_016 + 3 * 86_400 + 4 * 3600,
  );
  assert.equal(parseZellijAge("3d 4m"), 3 * 86_400 + 240);
  assert.equal(parseZellijAge("soon"), null);
  assert.equal(parseZellijAge("5 minutes"), null);
  assert.equal(parseZellijAge("5parsecs"), null);
});

Deno.test("zellij 'no sessions' is told apart from a failure", () => {
  assert.equal(
    isNoSessionsOutput({
      code: 1,
      stdout: "",
      stderr: "No active zellij sessions found.\n",
    }),
    true,
  );
  assert.equal(
    isNoSessionsOutput({
      code: 1,
      stdout: "",
      stderr: "Error occurred: PermissionDenied\n",
    }),
    false,
  );
});

Deno.test("zellij socket directory", async (t) => {
  const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

  await t.step("ZELLIJ_SOCKET_DIR wins", () => {
    assert.equal(
      zellijSocketDir(
        envOf({ ZELLIJ_SOCKET_DIR: "/s/", XDG_RUNTIME_DIR: "/run/user/7" }),
        7,
      ),
      "/s/contract_version_1",
    );
  });

  await t.step("then an absolute XDG_RUNTIME_DIR", () => {
    assert.equal(
      zellijSocketDir(envOf({ XDG_RUNTIME_DIR: "/run/user/7" }), 7),
      "/run/user/7/zellij/contract_version_1",
    );
  });

  await t.step("then TMPDIR (default /tmp) with the uid", () => {
    assert.equal(
      zellijSocketDir(envOf({ XDG_RUNTIME_DIR: "relative" }), 1000),
      "/tmp/zellij-1000/contract_version_1",
    );
    assert.equal(
      zellijSocketDir(envOf({ TMPDIR: "/var/tmp" }), 1000),
      "/var/tmp/zellij-1000/contract_version_1",
    );
  });
});

Deno.test("zellij session names", async (t) => {
  const dir = "/tmp/zellij-1000/contract_version_1"; // 35 bytes

  await t.step("refused", () => {
    for (const name of ["", "   ", ".", "..", "a/b", "a\nb", "tab\there"]) {
      assert.notEqual(zellijNameProblem(name, dir), null, JSON.stringify(name));
    }
  });

  await t.step("accepted", () => {
    for (
      const name of ["dev", "my project", "x;touch pwned", "$(id)", "-h", "é"]
    ) {
      assert.equal(zellijNameProblem(name, dir), null, name);
    }
  });

  await t.step("the socket path must stay under 108 bytes", () => {
    const room = 108 - 1 - (dir.length + 1); // 71 bytes for the name
    assert.equal(zellijNameProblem("a".repeat(room), dir), null);
    const tooLong = zellijNameProblem("a".repeat(room + 1), dir);
    assert.match(tooLong ?? "", /too long: at most 71 bytes/);
    // bytes, not characters: "é" is two
    assert.notEqual(zellijNameProblem("é".repeat(36), dir), null);
    assert.equal(zellijNameProblem("é".repeat(35), dir), null);
  });
});
