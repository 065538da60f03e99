import assert from "node:assert/strict";
import { assertUsageError } from "./helpers/assert.ts";
import {
  foldHosts,
  parseExclusionList,
  parseTargetList,
  parseTargetsFile,
  selectTargets,
  unmatchedExclusions,
} from "../remote/targets.ts";

const labels = (text: string, groups?: Map<string, string>) =>
  parseTargetList(text, groups).map((t) => t.label);

// Every refusal says what to write instead, in its own parentheses.
const assertUsage = (fn: () => unknown, fragment: string) =>
  assertUsageError(fn, fragment, { withHint: true });

Deno.test("parseTargetList", async (t) => {
  await t.step("host, user@host, host:port, user@host:port", () => {
    assert.deepEqual(parseTargetList("a, deploy@b,c:2222,root@d.example:22"), [
      { label: "a", host: "a" },
      { label: "deploy@b", host: "b", user: "deploy" },
      { label: "c:2222", host: "c", port: 2222 },
      { label: "root@d.example:22", host: "d.example", user: "root", port: 22 },
    ]);
  });

  await t.step("bracketed IPv6 with and without port", () => {
    assert.deepEqual(
      parseTargetList(
        "[::1]:2200,u@[2001:db8::5],[fe80::1%eth0],[fe80::2%br_lan]",
      ),
      [
        { label: "[::1]:2200", host: "::1", port: 2200 },
        { label: "u@[2001:db8::5]", host: "2001:db8::5", user: "u" },
        { label: "[fe80::1%eth0]", host: "fe80::1%eth0" },
        { label: "[fe80::2%br_lan]", host: "fe80::2%br_lan" },
      ],
    );
  });

  await t.step("ranges keep zero padding; commas inside brackets", () => {
    assert.deepEqual(labels("web[01-03],db[1,3,5-7]"), [
      "web01",
      "web02",
      "web03",
      "db1",
      "db3",
      "db5",
      "db6",
      "db7",
    ]);
    assert.deepEqual(labels("n[8-10]"), ["n8", "n9", "n10"]);
    assert.deepEqual(labels("n[098-100]"), ["n098", "n099", "n100"]);
  });

  await t.step("ranges with user, port, suffix, and two ranges", () => {
    assert.deepEqual(parseTargetList("ops@web[1-2].dc:2022"), [
      { label: "ops@web1.dc:2022", host: "web1.dc", user: "ops", port: 2022 },
      { label: "ops@web2.dc:2022", host: "web2.dc", user: "ops", port: 2022 },
    ]);
    assert.deepEqual(labels("r[1-2]-n[01-02]"), [
      "r1-n01",
      "r1-n02",
      "r2-n01",
      "r2-n02",
    ]);
  });

  await t.step("groups, nested groups, and group loops", () => {
    const groups = new Map([
      ["web", "web[1-2]"],
      ["all", "@web,db1"],
      ["loop", "a,@loop2"],
      ["loop2", "@loop"],
    ]);
    assert.deepEqual(labels("@all,x", groups), ["web1", "web2", "db1", "x"]);
    assertUsage(() => labels("@nope", groups), "unknown group '@nope'");
    assertUsage(() => labels("@loop", groups), "includes itself");
  });

  await t.step("empty items are skipped; an empty list is no targets", () => {
    assert.deepEqual(labels(" a ,, b ,"), ["a", "b"]);
    assert.deepEqual(labels(""), []);
  });

  await t.step("bad tokens are named", () => {
    assertUsage(() => labels("a,b:0"), "bad port '0' in target 'b:0'");
    assertUsage(() => labels("b:99999"), "bad port '99999'");
    assertUsage(() => labels("b:x"), "bad port 'x'");
    assertUsage(() => labels("web[1-"), "unclosed '['");
    assertUsage(() => labels("web]1"), "unmatched ']'");
    assertUsage(
      () => labels("web[a-b]"),
      "bad range '[a-b]' in target 'web[a-b]'",
    );
    assertUsage(() => labels("web[5-1]"), "backwards range '5-1'");
    assertUsage(() => labels("web[1-99999]"), "more than");
    // Past 2^53 the expansion loop never advanced (and filled memory).
    assertUsage(
      () => labels("web[9007199254740993-9007199254740995]"),
      "has a number longer than 15 digits",
    );
    assertUsage(
      () => labels("web[99999999999999999998]"),
      "has a number longer than 15 digits",
    );
    assertUsage(() => labels("a b"), "contains a space");
    assertUsage(() => labels("@"), "missing group name after '@'");
    assertUsage(() => labels("@-x"), "bad group name '@-x'");
    assertUsage(() => labels("@nope"), "unknown group '@nope'");
    assertUsage(() => labels("u@"), "missing host name");
    assertUsage(() => labels(":22"), "missing host name in target ':22'");
    assertUsage(() => labels("@h"), "unknown group");
    assertUsage(() => labels("x@@h"), "bad user name 'x@'");
    assertUsage(() => labels("@x@h"), "bad");
    assertUsage(() => labels("u@h:"), "missing port after ':'");
    assertUsage(() => labels("w[1-[2]]"), "nested '['");
    assertUsage(() => labels("-h"), "bad host name '-h'");
    assertUsage(() => labels("a[1-200]b[1-200]"), "expands to more than");
    assertUsage(() => labels("bad/host"), "bad host name 'bad/host'");
    assertUsage(() => labels("fe80::1"), "bad target 'fe80::1'");
    assertUsage(() => labels("[zz:1]"), "bad IPv6 address");
    for (
      const address of [
        ":",
        ":::",
        "1::2::3",
        "::1%",
        "::1%a%b",
        "::1%a:b",
        "1:2:3:4:5:6:7:8:9",
      ]
    ) {
      assertUsage(() => labels(`[${address}]:22`), "bad IPv6 address");
    }
    assertUsage(() => labels("b c@d"), "contains a space");
    assertUsage(() => labels("a;b@c"), "bad user name 'a;b'");
  });
});

Deno.test("a user name may hold '@', split at the last one as OpenSSH does", () => {
  const [target] = parseTargetList("alice@corp.example@web1:2222");
  assert.deepEqual([target.user, target.host, target.port], [
    "alice@corp.example",
    "web1",
    2222,
  ]);
  assert.equal(target.label, "alice@corp.example@web1:2222");
});

Deno.test("a list of many ranges expands without exhausting the stack", () => {
  // 13 ranges of 10 000: spreading them into push() overflowed the call stack.
  const line = Array.from({ length: 13 }, (_, i) => `r${i}-[1-10000]`).join(
    ",",
  );
  assert.equal(parseTargetsFile(line, "big.txt").length, 130_000);
  assert.equal(parseTargetList(line).length, 130_000);
});

Deno.test("parseTargetsFile: one per line, comments, blank lines, file:line errors", () => {
  const content = "# web tier\nweb[1-2]\n\n  db1 # primary\r\ndb2,db3\n";
  assert.deepEqual(
    parseTargetsFile(content, "hosts.txt").map((t) => t.label),
    ["web1", "web2", "db1", "db2", "db3"],
  );
  assertUsage(
    () => parseTargetsFile("ok\n\nbad:port\n", "hosts.txt"),
    "hosts.txt:3: bad port",
  );
});

Deno.test("selectTargets: duplicates removed in order, exclusions by host/user/port", () => {
  const included = parseTargetList(
    "web[1-4],web2,u@web5,web6:22,web7,web7:2222",
  );
  const excluded = parseTargetList("web3,x@web5,web6:22,web7:2222");
  assert.deepEqual(
    selectTargets(included, excluded).map((t) => t.label),
    ["web1", "web2", "web4", "u@web5", "web7"],
  );
  // x@web5 left out nothing (the target is u@web5): the caller warns. A
  // group or range is one item, unmatched only if none of it matched.
  const groups = new Map([["staging", "web[3-9],db1"], ["gone", "db[1-2]"]]);
  assert.deepEqual(
    unmatchedExclusions(
      included,
      parseExclusionList("web3,x@web5,@staging,web[10-20],@gone", groups),
    ),
    ["x@web5", "web[10-20]", "@gone"],
  );
  assert.deepEqual(
    selectTargets(parseTargetList("b,a,b,a,c")).map((t) => t.label),
    ["b", "a", "c"],
  );
  // Host names in any case are one host; user names are not folded.
  assert.deepEqual(
    selectTargets(
      parseTargetList("WEB01,web01,Ann@db,ann@db"),
      parseTargetList("Web02"),
    ).map((t) => t.label),
    ["WEB01", "Ann@db", "ann@db"],
  );
  assert.deepEqual(
    selectTargets(parseTargetList("WEB01,web02"), parseTargetList("web01"))
      .map((t) => t.label),
    ["web02"],
  );
  assert.deepEqual(
    selectTargets(parseTargetList("web[1-3]"), parseTargetList("web[1-3]")),
    [],
  );
});

Deno.test("foldHosts", async (t) => {
  await t.step(
    "ranges with padding, singles, plain names in first-seen order",
    () => {
      assert.equal(
        foldHosts(["web01", "web02", "web03", "web07", "db", "web10", "db1"]),
        "web[01-03,07,10],db,db1",
      );
      assert.equal(foldHosts(["n9", "n8", "n10"]), "n[8-10]");
      assert.equal(foldHosts(["n09", "n10", "n8"]), "n[09-10],n8");
    },
  );

  await t.step(
    "user and port stay outside the brackets; IPv6 is listed as is",
    () => {
      assert.equal(
        foldHosts([
          "u@web1:2222",
          "u@web2:2222",
          "web3:2222",
          "[::1]:22",
          "[::1]:22",
        ]),
        "u@web[1-2]:2222,web3:2222,[::1]:22",
      );
      assert.equal(
        foldHosts(["10.0.0.1", "10.0.0.2", "10.0.0.4"]),
        "10.0.0.[1-2,4]",
      );
      assert.equal(foldHosts([]), "");
    },
  );

  await t.step("folded lists expand back to the same hosts", () => {
    const samples = [
      [
        "web01",
        "web02",
        "web09",
        "web10",
        "web100",
        "web1",
        "db",
        "a.b3.c",
        "u@h7:2022",
      ],
      ["n001", "n002", "n010", "n99", "n100"],
    ];
    for (const sample of samples) {
      const folded = foldHosts(sample);
      assert.deepEqual(
        new Set(parseTargetList(folded).map((t) => t.label)),
        new Set(sample),
        folded,
      );
    }
  });
});
