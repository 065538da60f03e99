import assert from "node:assert/strict";
import { join } from "node:path";
import { assertUsageError } from "./helpers/assert.ts";
import { parseDurationFlag, parseDurationSeconds } from "../remote/duration.ts";
import { MAX_FAN_OUT } from "../remote/limits.ts";
import {
  loadSessionsConfig,
  parseSessionsConfig,
  sessionsConfigPath,
} from "../remote/settings.ts";
import { parseTargetList } from "../remote/targets.ts";

Deno.test("durations: seconds, units, sums; anything else refused", () => {
  assert.equal(parseDurationSeconds("30"), 30);
  assert.equal(parseDurationSeconds("30s"), 30);
  assert.equal(parseDurationSeconds("2m"), 120);
  assert.equal(parseDurationSeconds("1h"), 3600);
  assert.equal(parseDurationSeconds("1H30M"), 5400);
  assert.equal(parseDurationSeconds("1d"), 86400);
  assert.equal(parseDurationSeconds(" 0 "), 0);
  for (const bad of ["", "s", "1.5s", "-1", "2 m", "1y", "ten"]) {
    assert.equal(parseDurationSeconds(bad), null, bad);
  }
  assert.equal(parseDurationFlag("--timeout", "2m"), 120);
  assertUsageError(
    () => parseDurationFlag("--timeout", "soon"),
    "bad duration 'soon' for --timeout",
  );
  // A timer would fire at once past 2^31-1 ms (24.8 days).
  assert.equal(parseDurationFlag("--timeout", "24d"), 24 * 86400);
  assertUsageError(
    () => parseDurationFlag("--timeout", "30d"),
    "duration '30d' for --timeout is longer than sessions can wait",
  );
});

Deno.test("sessions config file", async (t) => {
  await t.step(
    "every setting, comments, blank lines, groups using later groups",
    () => {
      const config = parseSessionsConfig(
        [
          "# defaults for exec",
          "parallel 64",
          "timeout 2m   # per host",
          "",
          "connect-timeout 10s",
          "user deploy",
          "group all @web, db[1-2]",
          "group web web[01-03],10.0.0.9",
          "\tgroup  ops  ops@bastion:2222",
        ].join("\n"),
        "config",
      );
      assert.deepEqual(config.defaults, {
        parallel: 64,
        timeout: 120,
        connectTimeout: 10,
        user: "deploy",
      });
      assert.deepEqual(
        parseTargetList("@all,@ops", config.groups).map((target) =>
          target.label
        ),
        [
          "web01",
          "web02",
          "web03",
          "10.0.0.9",
          "db1",
          "db2",
          "ops@bastion:2222",
        ],
      );
    },
  );

  await t.step("an empty file is an empty configuration", () => {
    const config = parseSessionsConfig("\n# nothing\n", "config");
    assert.deepEqual(config.defaults, {});
    assert.equal(config.groups.size, 0);
  });

  await t.step("parallel takes the range --parallel takes", () => {
    for (const count of [1, 1024, MAX_FAN_OUT]) {
      assert.equal(
        parseSessionsConfig(`parallel ${count}`, "/cfg").defaults.parallel,
        count,
      );
    }
    assert.equal(MAX_FAN_OUT, 10_000);
  });

  await t.step("malformed lines name file:line and the problem", () => {
    const bad = (content: string, fragment: string) =>
      assertUsageError(() => parseSessionsConfig(content, "/cfg"), fragment);
    bad(
      "parallel 0",
      "/cfg:1: parallel must be a number from 1 to 10000, not '0'",
    );
    bad(`parallel ${MAX_FAN_OUT + 1}`, "parallel must be a number from 1 to");
    bad("parallel many", "parallel must be a number");
    bad("\ntimeout soon", "/cfg:2: timeout must be a duration above zero");
    bad("timeout 0", "timeout must be a duration above zero");
    bad("connect-timeout 1x", "connect-timeout must be a duration");
    bad("timeout 30d", "timeout must be a duration above zero and at most 24d");
    bad("user a b", "'user' takes one value, got 'a b'");
    bad("user bad;name", "bad user name 'bad;name'");
    bad("parallel", "/cfg:1: 'parallel' needs a value");
    bad(
      "parallel 2\nparallel 3",
      "/cfg:2: 'parallel' is already set at /cfg:1",
    );
    bad("paralel 2", "unknown setting 'paralel'");
    bad("group", "'group' needs a value");
    bad("group web", "group 'web' has no hosts");
    bad("group w/eb a", "bad group name 'w/eb'");
    bad(
      "group web a\ngroup web b",
      "/cfg:2: group 'web' is already defined at /cfg:1",
    );
    bad("group web a b", "/cfg:1: bad target 'a b': it contains a space");
    bad("group web web[1-", "/cfg:1: unclosed '['");
    bad("group a @b\ngroup b @a", "/cfg:1: group '@a' includes itself");
    bad("group a @missing", "/cfg:1: unknown group '@missing'");
  });

  await t.step(
    "path from XDG_CONFIG_HOME or ~/.config; a missing file is empty",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "sessions-settings-" });
      const saved = {
        xdg: Deno.env.get("XDG_CONFIG_HOME"),
        home: Deno.env.get("HOME"),
      };
      try {
        Deno.env.set("HOME", dir);
        Deno.env.delete("XDG_CONFIG_HOME");
        assert.equal(
          sessionsConfigPath(),
          join(dir, ".config", "sessions", "config"),
        );
        Deno.env.set("XDG_CONFIG_HOME", "relative/ignored");
        assert.equal(
          sessionsConfigPath(),
          join(dir, ".config", "sessions", "config"),
        );
        Deno.env.set("XDG_CONFIG_HOME", join(dir, "xdg"));
        assert.equal(
          sessionsConfigPath(),
          join(dir, "xdg", "sessions", "config"),
        );

        const missing = loadSessionsConfig();
        assert.deepEqual(missing.defaults, {});
        assert.equal(missing.groups.size, 0);

        await Deno.mkdir(join(dir, "xdg", "sessions"), { recursive: true });
        await Deno.writeTextFile(
          join(dir, "xdg", "sessions", "config"),
          "parallel 8\nbogus\n",
        );
        assertUsageError(
          () => loadSessionsConfig(),
          `${join(dir, "xdg", "sessions", "config")}:2:`,
        );
      } finally {
        if (saved.xdg === undefined) Deno.env.delete("XDG_CONFIG_HOME");
        else Deno.env.set("XDG_CONFIG_HOME", saved.xdg);
        if (saved.home === undefined) Deno.env.delete("HOME");
        else Deno.env.set("HOME", saved.home);
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});
