/** The tmux listing parser on output recorded from tmux 3.3a. */
import assert from "node:assert/strict";
import {
  isNoServerMessage,
  latestClient,
  parseTmuxEnv,
  parseTmuxSessions,
  tmuxNameProblem,
} from "../backends/tmux.ts";

const SOCKET = "/tmp/s-aa8a4ed8f5f110b1/tmux-0/default";

/** `tmux list-sessions -F TMUX_LIST_FORMAT`, one client attached to `work`. */
const RECORDED = [
  `$5\t0\t1795482249\t1\t${SOCKET}\t/work/main\tback\\\\slash`,
  `$6\t0\t1795482249\t1\t${SOCKET}\t/work/main\tesc\\033x`,
  `$4\t0\t1795482248\t1\t${SOCKET}\t/work/main\tnl\\nx`,
  `$3\t0\t1795482248\t1\t${SOCKET}\t/work/main\ttab\\there`,
  `$1\t0\t1795482248\t1\t${SOCKET}\t/tmp/s-aa8a4ed8f5f110b1/sp ace\twith space`,
  `$0\t1\t1795482248\t2\t${SOCKET}\t/tmp/s-aa8a4ed8f5f110b1\twork`,
  `$7\t0\t1795482249\t1\t${SOCKET}\t/work/main\tx;touch PWNED`,
  `$2\t0\t1795482248\t1\t${SOCKET}\t/work/main\tünï 日本`,
  "",
].join("\n");

Deno.test("parseTmuxSessions", async (t) => {
  const sessions = parseTmuxSessions(RECORDED, null);

  await t.step(
    "reads every name as tmux stores it (escaped, as -t =NAME needs)",
    () => {
      // Created as "back\\slash", "esc\x1bx", "nl\nx" and "tab\there": tmux 3.3 stored them escaped.
      assert.deepEqual(sessions.map((session) => session.name), [
        "back\\\\slash",
        "esc\\033x",
        "nl\\nx",
        "tab\\there",
        "with space",
        "work",
        "x;touch PWNED",
        "ünï 日本",
      ]);
    },
  );

  await t.step("reads state, clients, windows, time, directory and id", () => {
    const work = sessions.find((session) => session.name === "work");
    assert.deepEqual(work, {
      name: "work",
      backend: "tmux",
      state: "attached",
      windows: 2,
      clients: 1,
      created: new Date(1795482248 * 1000),
      directory: "/tmp/s-aa8a4ed8f5f110b1",
      current: false,
      id: "$0",
    });
    const spaced = sessions.find((session) => session.name === "with space");
    assert.equal(spaced?.state, "detached");
    assert.equal(spaced?.clients, 0);
    assert.equal(spaced?.directory, "/tmp/s-aa8a4ed8f5f110b1/sp ace");
  });

  await t.step(
    "marks the session $TMUX points at, on the same socket only",
    () => {
      const inside = parseTmuxEnv(`${SOCKET},30449,3`);
      const current = parseTmuxSessions(RECORDED, inside).filter((session) =>
        session.current
      );
      assert.deepEqual(current.map((session) => session.name), ["tab\\there"]);
      const otherServer = parseTmuxEnv("/tmp/other/default,30449,3");
      assert.equal(
        parseTmuxSessions(RECORDED, otherServer).some((session) =>
          session.current
        ),
        false,
      );
    },
  );

  await t.step("a start directory holding a tab stays whole", () => {
    // Recorded: tmux does not escape session_path.
    const line =
      "$1\t0\t1795481895\t1\t/tmp/tmp.EDpHrIicRt/tmux-0/default\t/tmp/tmp.EDpHrIicRt/a\tb\ttab\\there\n";
    const [session] = parseTmuxSessions(line, null);
    assert.equal(session.directory, "/tmp/tmp.EDpHrIicRt/a\tb");
    assert.equal(session.name, "tab\\there");
  });

  await t.step("empty output is no sessions", () => {
    assert.deepEqual(parseTmuxSessions("", null), []);
  });

  await t.step("a malformed line is an error, not a wrong session", () => {
    assert.throws(
      () => parseTmuxSessions("garbage\n", null),
      /unexpected line/,
    );
    assert.throws(
      () =>
        parseTmuxSessions(
          `$0\t0\t1795482248\t1\t${SOCKET}\t/work/main\twork\ngarbage\n`,
          null,
        ),
      /unexpected line/,
    );
  });
});

Deno.test("parseTmuxSessions: a directory with a newline (made outside sessions) stays with its session", () => {
  // Recorded from tmux 3.3a: `new-session -c $'/tmp/rec-kXQl/a\nb'`, then one more session.
  const socket = "/tmp/rec-kXQl/tmux-0/default";
  const recorded = [
    `$1\t0\t1795529985\t1\t${socket}\t/work/main\tafter`,
    `$0\t0\t1795529985\t1\t${socket}\t/tmp/rec-kXQl/a`,
    `b\tnlpath`,
    "",
  ].join("\n");
  const sessions = parseTmuxSessions(recorded, null);
  assert.deepEqual(
    sessions.map((session) => [session.id, session.name, session.directory]),
    [
      ["$1", "after", "/work/main"],
      ["$0", "nlpath", "/tmp/rec-kXQl/a\nb"],
    ],
  );
});

Deno.test("latestClient picks the latest active client, and null when there is none", () => {
  // `list-clients -F '#{client_activity}\t#{client_name}'` with two terminals on one session.
  assert.equal(
    latestClient("1795530101\t/dev/pts/4\n1795530230\t/dev/pts/7\n"),
    "/dev/pts/7",
  );
  assert.equal(latestClient("1795530101\t/dev/pts/4\n"), "/dev/pts/4");
  assert.equal(latestClient(""), null);
});

Deno.test("parseTmuxEnv reads socket, server and session id, and ignores an empty TMUX", () => {
  assert.deepEqual(parseTmuxEnv("/tmp/tmux-0/default,10214,8"), {
    socket: "/tmp/tmux-0/default",
    sessionId: "$8",
    serverPid: 10214,
  });
  assert.equal(parseTmuxEnv(""), null);
  assert.equal(parseTmuxEnv(undefined), null);
  assert.equal(parseTmuxEnv("nonsense"), null);
});

Deno.test("isNoServerMessage knows both no-server messages (recorded) and nothing else", () => {
  assert.equal(
    isNoServerMessage(
      "no server running on /tmp/tmux-0/default\n",
    ),
    true,
  );
  assert.equal(
    isNoServerMessage(
      "error connecting to /tmp/tmp.hsBXkTQaVw/tmux-0/default (No such file or directory)\n",
    ),
    true,
  );
  assert.equal(
    isNoServerMessage(
      "error connecting to /tmp/tmux-0/default (Permission denied)\n",
    ),
    false,
  );
});

Deno.test("tmuxNameProblem refuses what tmux would reject or rename", () => {
  for (
    const name of [
      "",
      "a\tb",
      "a\nb",
      "esc\x1b",
      "a/b",
      "a.b",
      "a:b",
      "$(x)",
      "back\\slash",
      "q#x",
      "#(touch PWNED)",
      "x".repeat(81),
    ]
  ) {
    assert.notEqual(tmuxNameProblem(name), null, JSON.stringify(name));
  }
  for (
    const name of [
      "dev",
      "with space",
      "ünï 日本",
      "x;touch PWNED",
      "`x`",
      "-dash",
    ]
  ) {
    assert.equal(tmuxNameProblem(name), null, name);
  }
});
