/** Assertions the end-to-end tests share. */
import assert from "node:assert/strict";
import { RemoteError } from "../../remote/errors.ts";
import type { SessionsResult } from "./sessions.ts";

/** Exit 0 and quiet on standard error. */
export function assertOk(result: SessionsResult): void {
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
}

/** One `sessions: …` line on standard error, nothing on stdout, and CODE. */
export function assertRefused(
  result: SessionsResult,
  code: number,
  message: RegExp,
): void {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^sessions: [^\n]*\n$/);
  assert.match(result.stderr, message);
}

/** Polls CONDITION every 100 ms; fails the test when it is still false after TIMEOUTMS. */
export async function waitUntil(
  condition: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      assert.fail(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * FN throws a RemoteError of kind usage whose message mentions FRAGMENT;
 * with `withHint`, it also says what to write instead, in its own hint.
 */
export function assertUsageError(
  fn: () => unknown,
  fragment: string,
  { withHint = false } = {},
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RemoteError, String(error));
    assert.equal(error.kind, "usage");
    assert.ok(
      error.message.includes(fragment),
      `'${error.message}' should mention '${fragment}'`,
    );
    if (withHint) {
      assert.ok(error.hint, `'${error.message}' has no hint`);
      assert.doesNotMatch(error.message, /\)$/);
    }
    return true;
  });
}
