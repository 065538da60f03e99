/**
 * `screen -ls` parsing. The first samples are byte-exact output of screen
 * 4.09.00 on Debian 12 (private SCREENDIR, LC_ALL=C); the older, remote and
 * locale variants are written from the documented forms.
 */
import assert from "node:assert/strict";
import {
  parseScreenList,
  parseScreenTime,
  screenNameProblem,
} from "../backends/screen.ts";

const at = (
  month: number,
  day: number,
  hours: number,
  minutes: number,
  seconds: number,
) => new Date(2026, month - 1, day, hours, minutes, seconds);

Deno.test("screen -ls parser", async (t) => {
  await t.step("real: no sockets (note the stray \\n\\r\\n ending)", () => {
    assert.deepEqual(
      parseScreenList("No Sockets found in /tmp/scr.hqgt.\n\r\n"),
      { entries: [], socketDir: "/tmp/scr.hqgt" },
    );
  });

  await t.step("real: one session, singular header and footer", () => {
    const listing = parseScreenList(
      "There is a screen on:\r\n" +
        "\t15840.solo\t(11/24/26 01:00:06)\t(Detached)\n" +
        "1 Socket in /tmp/scr.k2Nb.\r\n",
    );
    assert.deepEqual(listing, {
      entries: [{
        pid: 15840,
        name: "solo",
        id: "15840.solo",
        state: "detached",
        created: at(11, 24, 1, 0, 6),
      }],
      socketDir: "/tmp/scr.k2Nb",
    });
  });

  await t.step("real: duplicates, spaces, dots and unicode", () => {
    const listing = parseScreenList(
      "There are screens on:\r\n" +
        "\t7935.dev\t(11/24/26 00:57:13)\t(Detached)\n" +
        "\t7942.my session.x \u00fc\t(11/24/26 00:57:13)\t(Detached)\n" +
        "\t7950.dev\t(11/24/26 00:57:13)\t(Detached)\n" +
        "3 Sockets in /tmp/scr.hqgt.\r\n",
    );
    assert.deepEqual(listing?.entries.map((entry) => entry.id), [
      "7935.dev",
      "7942.my session.x \u00fc",
      "7950.dev",
    ]);
    assert.deepEqual(listing?.entries.map((entry) => entry.name), [
      "dev",
      "my session.x \u00fc",
      "dev",
    ]);
    assert.equal(listing?.socketDir, "/tmp/scr.hqgt");
  });

  await t.step("real: shell metacharacters and parentheses in names", () => {
    const listing = parseScreenList(
      "There are screens on:\r\n" +
        "\t15712.$(id)\t(11/24/26 01:00:01)\t(Detached)\n" +
        '\t15715.it\'s "q" \\\t(11/24/26 01:00:01)\t(Detached)\n' +
        "\t15702.dev.x\t(11/24/26 01:00:01)\t(Detached)\n" +
        "\t15708.\u65e5\u672c\u8a9e\t(11/24/26 01:00:01)\t(Detached)\n" +
        "\t15705.a (b)\t(11/24/26 01:00:01)\t(Detached)\n" +
        "5 Sockets in /tmp/scr.0G6V.\r\n",
    );
    assert.deepEqual(listing?.entries.map((entry) => entry.name), [
      "$(id)",
      `it's "q" \\`,
      "dev.x",
      "\u65e5\u672c\u8a9e",
      "a (b)",
    ]);
    assert.ok(
      listing?.entries.every((entry) =>
        entry.created?.getTime() === at(11, 24, 1, 0, 1).getTime()
      ),
    );
  });

  await t.step("real: a dead session and the wipe advice", () => {
    const listing = parseScreenList(
      "There are screens on:\r\n" +
        "\t7935.dev\t(11/24/26 00:57:12)\t(Detached)\n" +
        "\t7950.dev\t(11/24/26 00:57:12)\t(Dead ???)\n" +
        "Remove dead screens with 'screen -wipe'.\r\n" +
        "2 Sockets in /tmp/scr.hqgt.\r\n",
    );
    assert.deepEqual(
      listing?.entries.map((entry) => [entry.id, entry.state]),
      [["7935.dev", "detached"], ["7950.dev", "dead"]],
    );
  });

  await t.step("real: attached, multi attached and multi detached", () => {
    const listing = parseScreenList(
      "There are screens on:\r\n" +
        "\t10068.r4\t(11/24/26 00:58:09)\t(Detached)\n" +
        "\t10054.r2\t(11/24/26 00:58:08)\t(Multi, attached)\n" +
        "\t10059.r3\t(11/24/26 00:58:08)\t(Attached)\n" +
        "\t10055.r6\t(11/24/26 00:58:07)\t(Multi, detached)\n" +
        "4 Sockets in /tmp/scr.hqgt.\r\n",
    );
    assert.deepEqual(listing?.entries.map((entry) => entry.state), [
      "detached",
      "attached",
      "attached",
      "detached",
    ]);
  });

  await t.step("reference: remote or dead", () => {
    const listing = parseScreenList(
      "There is a screen on:\r\n" +
        "\t4242.far\t(11/24/26 00:58:09)\t(Remote or dead)\n" +
        "Remove dead screens with 'screen -wipe'.\r\n" +
        "1 Socket in /run/screen/S-ann.\r\n",
    );
    assert.equal(listing?.entries[0].state, "dead");
    assert.equal(listing?.entries[0].name, "far");
  });

  await t.step("reference: older builds print no date column", () => {
    const listing = parseScreenList(
      "There are screens on:\n" +
        "\t111.old one\t(Detached)\n" +
        "\t222.other.name\t(Attached)\n" +
        "\t333.gone\t(Dead ???)\n" +
        "Remove dead screens with 'screen -wipe'.\n" +
        "3 Sockets in /var/run/screen/S-ann.\n",
    );
    assert.deepEqual(listing?.entries, [
      {
        pid: 111,
        name: "old one",
        id: "111.old one",
        state: "detached",
        created: null,
      },
      {
        pid: 222,
        name: "other.name",
        id: "222.other.name",
        state: "attached",
        created: null,
      },
      { pid: 333, name: "gone", id: "333.gone", state: "dead", created: null },
    ]);
    assert.equal(listing?.socketDir, "/var/run/screen/S-ann");
  });

  await t.step("real: another locale's time keeps created null", () => {
    // screen 4.09 with LC_ALL=en_US.UTF-8 (list forces LC_ALL=C to avoid this).
    const listing = parseScreenList(
      "There is a screen on:\r\n" +
        "\t13001.loc\t(11/24/2026 12:58:46 AM)\t(Detached)\n" +
        "1 Socket in /tmp/scr.hqgt.\r\n",
    );
    assert.equal(listing?.entries[0].id, "13001.loc");
    assert.equal(listing?.entries[0].created, null);
  });

  await t.step("real: an error instead of a listing is not a listing", () => {
    assert.equal(
      parseScreenList("Directory /tmp/bm must have mode 700.\r\n"),
      null,
    );
    assert.equal(parseScreenList(""), null);
  });
});

Deno.test("screen time column", async (t) => {
  await t.step("C locale %x %X is month/day/two-digit year, local time", () => {
    assert.deepEqual(
      parseScreenTime("11/24/26 00:57:13"),
      at(11, 24, 0, 57, 13),
    );
    assert.deepEqual(
      parseScreenTime("02/03/26 23:59:59"),
      at(2, 3, 23, 59, 59),
    );
  });

  await t.step("impossible dates and other forms are null", () => {
    assert.equal(parseScreenTime("02/31/26 10:00:00"), null);
    assert.equal(parseScreenTime("13/01/26 10:00:00"), null);
    assert.equal(parseScreenTime("11/24/26 24:00:00"), null);
    assert.equal(parseScreenTime("24.11.2026 00:57:13"), null);
    assert.equal(parseScreenTime(""), null);
  });
});

Deno.test("screen name rules", async (t) => {
  const dir = "/tmp/scr.abcd";
  await t.step("ordinary names, dots, spaces, unicode are fine", () => {
    for (
      const name of ["dev", "dev.x", "my session", "\u00fc\u65e5", "$(id)"]
    ) {
      assert.equal(screenNameProblem(name, dir), null, name);
    }
  });

  await t.step("empty, '/', control characters are refused", () => {
    assert.match(screenNameProblem("", dir) ?? "", /empty/);
    assert.match(screenNameProblem("x;touch /tmp/f", dir) ?? "", /'\/'/);
    assert.match(screenNameProblem("a\tb", dir) ?? "", /control/);
    assert.match(screenNameProblem("a\x7fb", dir) ?? "", /control/);
    assert.match(screenNameProblem("c1\u009bx", dir) ?? "", /control/);
  });

  await t.step("more than 80 bytes is refused, 80 is fine", () => {
    assert.equal(screenNameProblem("a".repeat(80), dir), null);
    assert.match(screenNameProblem("a".repeat(81), dir) ?? "", /80 bytes/);
    // 27 three-byte characters are 81 bytes.
    assert.match(screenNameProblem("\u65e5".repeat(27), dir) ?? "", /80/);
  });

  await t.step("the socket path must fit 107 bytes with a 7-digit PID", () => {
    const longDir = "/tmp/" + "d".repeat(60); // 65 bytes: 65+1+7+1 = 74, room 33
    assert.equal(screenNameProblem("n".repeat(33), longDir), null);
    assert.match(
      screenNameProblem("n".repeat(34), longDir) ?? "",
      /socket path.*at most 33 bytes/,
    );
  });
});
