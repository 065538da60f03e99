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

Deno.test("list table: a directory under HOME is shortened to ~", () => {
  const table = sessionTable([session("dev", "/home/u/src")], now, "/home/u");
  assert.match(table, /dev +tmux +detached +1 +0 +1m +~\/src\n?$/);
});
