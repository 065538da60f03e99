/** The `list` table: what it shows of names and directories it did not choose. */
import assert from "node:assert/strict";
import { sessionTable } from "../cli/local.ts";
import type { Session } from "../backends/types.ts";

const now = new Date("2026-11-24T12:00:00Z");

function session(name: string, directory: string): Session {
  return {
    name,
    backend: "tmux",
    state: "detached",
    windows: 1,
    clients: 0,
    created: new Date(now.getTime() - 90_000),
    directory,
    current: false,
    id: "$1",
  };
}

Deno.test("list table: control characters in names and directories are shown escaped, never sent to the terminal", () => {
  const table = sessionTable(
    [session("a\x1b[31mb", "/srv/e\x1b[31mRED\tx")],
    now,
    "/home/u",
  );
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(table, /[\x00-\x08\x0b-\x1f\x7f]/);
  assert.match(table, /a\\x1b\[31mb/);
  assert.match(table, /\/srv\/e\\x1b\[31mRED\\tx/);
});

Deno.test("list table: C1 controls, separators and bidirectional overrides are shown escaped", () => {
  const table = sessionTable(
    [session("c1\u009b31m", "/srv/\u202eevil\u2028x")],
    now,
    "/home/u",
  );
  assert.doesNotMatch(table, /[\u0080-\u009f\u202e\u2028]/);
  assert.match(table, /c1\\x9b31m/);
  assert.match(table, /\/srv\/\\u\{202e\}evil\\u\{2028\}x/);
});

Deno.test("list table: emoji count two columns, so the columns stay aligned", () => {
  const table = sessionTable(
    [
      session("ok\u2705", "/a"),
      session("rocket\u{1f680}", "/b"),
      session("plain", "/c"),
    ],
    now,
    "/home/u",
  );
  const [, ...rows] = table.trimEnd().split("\n");
  // The BACKEND column starts at the same display column on every row.
  const starts = rows.map((row) => {
    const before = row.slice(0, row.indexOf("tmux"));
    return [...before].reduce(
      (width, char) => width + (/\p{Emoji_Presentation}/u.test(char) ? 2 : 1),
      0,
    );
  });
  assert.deepEqual(starts, [starts[0], starts[0], starts[0]], table);
});

Deno.test("list table: a directory under HOME is shortened to ~", () => {
  const table = sessionTable([session("dev", "/home/u/src")], now, "/home/u");
  assert.match(table, /dev +tmux +detached +1 +0 +1m +~\/src\n?$/);
});
