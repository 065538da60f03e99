import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  BUFFERED_STREAM_LIMIT,
  CappedOutput,
  categorize,
  type CollectedOutput,
  concatBytes,
  exitCodeFor,
  formatBlock,
  formatGathered,
  formatJsonRecord,
  formatSummary,
  gatherOutputs,
  hostColor,
  type HostOutcome,
  LineBuffer,
  LinePrefixer,
  MAX_LINE_BYTES,
  noPaint,
  outdirNames,
} from "../cli/exec-output.ts";
import { ExitCode } from "../cli/exit-codes.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
/** Byte parts as written, read back as text. */
const written = (parts: Uint8Array[]) =>
  new TextDecoder().decode(concatBytes(parts));

/** A host's complete (not cut) output, from text or bytes. */
function collected(
  result: HostOutcome,
  stdout: string | Uint8Array = "",
  stderr: string | Uint8Array = "",
): CollectedOutput {
  const asBytes = (value: string | Uint8Array) =>
    typeof value === "string" ? bytes(value) : value;
  return {
    outcome: result,
    stdout: asBytes(stdout),
    stderr: asBytes(stderr),
    truncated: false,
  };
}

function outcome(
  label: string,
  fields: Partial<HostOutcome> = {},
): HostOutcome {
  return {
    label,
    host: label,
    user: "ops",
    port: 22,
    exitCode: 0,
    signal: null,
    durationMs: 12.4,
    error: null,
    ...fields,
  };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Lines as text from what a LineBuffer hands out with an empty prefix. */
const NO_PREFIX = new Uint8Array(0);
const texts = (out: Uint8Array) => {
  const all = text(out);
  return all === "" ? [] : all.slice(0, -1).split("\n");
};

Deno.test("LineBuffer", async (t) => {
  await t.step("hands out only complete lines and keeps the rest", () => {
    const buffer = new LineBuffer();
    assert.deepEqual(texts(buffer.push(bytes("one\ntw"), NO_PREFIX)), ["one"]);
    assert.deepEqual(texts(buffer.push(bytes("o\nthr"), NO_PREFIX)), ["two"]);
    assert.deepEqual(texts(buffer.push(bytes("ee"), NO_PREFIX)), []);
    assert.deepEqual(texts(buffer.flush(NO_PREFIX)), ["three"]);
    assert.deepEqual(texts(buffer.flush(NO_PREFIX)), []);
  });
  await t.step(
    "puts the prefix before every line, and the newline after",
    () => {
      const buffer = new LineBuffer();
      const prefix = bytes("web1 | ");
      assert.equal(
        text(buffer.push(bytes("a\n\nbc\nd"), prefix)),
        "web1 | a\nweb1 | \nweb1 | bc\n",
      );
      assert.equal(text(buffer.flush(prefix)), "web1 | d\n");
    },
  );
  await t.step("joins a UTF-8 character split across chunks", () => {
    const buffer = new LineBuffer();
    const euro = bytes("€\n");
    assert.deepEqual(texts(buffer.push(euro.subarray(0, 1), NO_PREFIX)), []);
    assert.deepEqual(texts(buffer.push(euro.subarray(1), NO_PREFIX)), ["€"]);
  });
  await t.step("an empty line stays a line", () => {
    assert.deepEqual(
      texts(new LineBuffer().push(bytes("\n\nx\n"), NO_PREFIX)),
      ["", "", "x"],
    );
  });
  await t.step("cuts an endless line so memory stays bounded", () => {
    const buffer = new LineBuffer();
    const prefix = bytes("h | ");
    const piece = `h | ${"a".repeat(MAX_LINE_BYTES)}\n`;
    // Every cut line ends in a newline, the last one of a chunk too.
    assert.equal(
      text(
        buffer.push(new Uint8Array(MAX_LINE_BYTES * 2 + 5).fill(97), prefix),
      ),
      piece + piece,
    );
    assert.equal(
      text(buffer.push(new Uint8Array(MAX_LINE_BYTES).fill(97), prefix)),
      piece,
    );
    assert.equal(text(buffer.flush(prefix)), "h | aaaaa\n");
  });
  await t.step("a line of exactly the limit is not cut", () => {
    const line = new Uint8Array(MAX_LINE_BYTES).fill(97);
    const lines = texts(
      new LineBuffer().push(concatBytes([line, bytes("\n")]), NO_PREFIX),
    );
    assert.deepEqual(lines.map((l) => l.length), [MAX_LINE_BYTES]);
  });
  await t.step("keeps bytes that are not UTF-8 as they are", () => {
    const buffer = new LineBuffer();
    assert.deepEqual(
      buffer.push(Uint8Array.of(0x63, 0xe9, 0x0a, 0x80), NO_PREFIX),
      Uint8Array.of(0x63, 0xe9, 0x0a),
    );
    assert.deepEqual(buffer.flush(NO_PREFIX), Uint8Array.of(0x80, 0x0a));
  });
  await t.step("does not keep a reference to the caller's chunk", () => {
    // A Buffer, as ssh2 delivers: its slice() would be a view.
    const buffer = new LineBuffer();
    const chunk = Buffer.from("abc");
    buffer.push(chunk, NO_PREFIX);
    chunk.fill(120);
    assert.deepEqual(texts(buffer.flush(NO_PREFIX)), ["abc"]);
  });
  await t.step("cuts a finished line longer than the limit too", () => {
    const line = new Uint8Array(MAX_LINE_BYTES * 2 + 5).fill(97);
    const lines = texts(
      new LineBuffer().push(concatBytes([line, bytes("\nb\n")]), NO_PREFIX),
    );
    assert.deepEqual(lines.map((l) => l.length), [
      MAX_LINE_BYTES,
      MAX_LINE_BYTES,
      5,
      1,
    ]);
  });
});

Deno.test("LinePrefixer pads labels and marks standard error", () => {
  const prefixer = LinePrefixer.forLabels(["web1", "db-long"], noPaint);
  assert.equal(text(prefixer.prefix("web1", "stdout")), "web1    | ");
  assert.equal(
    text(prefixer.line("db-long", "stderr", "oops")),
    "db-long ! oops\n",
  );
});

Deno.test("LinePrefixer colours each host the same way every time", () => {
  const paint = (text: string, style: string) => `<${style}>${text}</>`;
  const prefixer = LinePrefixer.forLabels(["web1"], paint);
  assert.equal(
    text(prefixer.line("web1", "stderr", "x")),
    `<${hostColor("web1")}>web1</> <red>!</> x\n`,
  );
  assert.equal(hostColor("web1"), hostColor("web1"));
});

Deno.test("blocks: header with status, then stdout, then marked stderr", () => {
  assert.equal(
    written(formatBlock(
      collected(outcome("web1", { exitCode: 3 }), "out1\nout2", "err\n"),
      noPaint,
    )),
    "--- web1 (exit 3) ---\nout1\nout2\n! err\n",
  );
  assert.equal(
    written(formatBlock(
      collected(outcome("web2", {
        exitCode: null,
        error: { kind: "unreachable", message: "connection refused" },
      })),
      noPaint,
    )),
    "--- web2 (unreachable: connection refused) ---\n",
  );
});

Deno.test("blocks and gather pass output that is not UTF-8 through byte for byte", () => {
  // Latin-1 "café", a lone continuation byte and a NUL: a UTF-8 decoder
  // would turn the first two into U+FFFD.
  const stdout = Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x0a, 0x80, 0x00);
  const stderr = Uint8Array.of(0xff, 0x0a, 0x61);
  const header = bytes("--- web1 (exit 0) ---\n");
  const expected = concatBytes([
    header,
    stdout,
    bytes("\n! "),
    Uint8Array.of(0xff),
    bytes("\n! a\n"),
  ]);
  assert.deepEqual(
    concatBytes(
      formatBlock(collected(outcome("web1"), stdout, stderr), noPaint),
    ),
    expected,
  );
  assert.deepEqual(
    concatBytes(formatGathered(
      gatherOutputs([collected(outcome("web1"), stdout, stderr)]),
      noPaint,
    )),
    expected,
  );
});

Deno.test("gather groups identical output and status, folding host lists", () => {
  const entry = (label: string, out: string, exitCode = 0) =>
    collected(outcome(label, { exitCode }), out);
  const groups = gatherOutputs([
    entry("web01", "same\n"),
    entry("web02", "same\n"),
    entry("web05", "other\n"),
    entry("web03", "same\n"),
    entry("web07", "same\n"),
    entry("web08", "same\n", 1),
  ]);
  assert.deepEqual(groups.map((group) => group.labels), [
    ["web01", "web02", "web03", "web07"],
    ["web05"],
    ["web08"],
  ]);
  assert.equal(
    written(formatGathered(groups, noPaint)),
    "--- web[01-03,07] (4 hosts) (exit 0) ---\nsame\n" +
      "--- web05 (exit 0) ---\nother\n" +
      "--- web08 (exit 1) ---\nsame\n",
  );
});

Deno.test("gather keeps hosts apart when only stderr differs", () => {
  const groups = gatherOutputs([
    collected(outcome("a1"), "x", "e1"),
    collected(outcome("a2"), "x", "e2"),
  ]);
  assert.equal(groups.length, 2);
});

Deno.test("gather keeps hosts apart whose output differs only in bytes that are not UTF-8", () => {
  const groups = gatherOutputs([
    collected(outcome("a1"), Uint8Array.of(0xe9)),
    collected(outcome("a2"), Uint8Array.of(0xe8)),
    collected(outcome("a3"), Uint8Array.of(0xe9)),
  ]);
  assert.deepEqual(groups.map((group) => group.labels), [["a1", "a3"], [
    "a2",
  ]]);
});

Deno.test("a JSON record has every field, snake_case, output as text", () => {
  const line = formatJsonRecord(collected(
    outcome("ops@web1:2222", {
      host: "web1",
      port: 2222,
      exitCode: null,
      signal: "KILL",
    }),
    "hi\n",
    new Uint8Array([0x66, 0xff, 0x0a]),
  ));
  assert.ok(line.endsWith("\n"));
  assert.equal(line.indexOf("\n"), line.length - 1);
  assert.deepEqual(JSON.parse(line), {
    target: "ops@web1:2222",
    host: "web1",
    user: "ops",
    port: 2222,
    exit_code: null,
    signal: "KILL",
    stdout: "hi\n",
    stderr: "f\uFFFD\n",
    truncated: false,
    duration_ms: 12,
    error: null,
  });
  const failed = JSON.parse(formatJsonRecord(collected(
    outcome("web2", {
      exitCode: null,
      error: { kind: "host-key", message: "unknown host key" },
    }),
  )));
  assert.deepEqual(failed.error, {
    kind: "host-key",
    message: "unknown host key",
  });
});

Deno.test("buffered output keeps each stream up to its limit, and says when it cut", () => {
  const output = new CappedOutput(5);
  const reused = new Uint8Array(bytes("abc"));
  output.push("stdout", reused);
  reused.set(bytes("XYZ")); // ssh2 may reuse a buffer: the copy stays
  output.push("stderr", bytes("12345"));
  const whole = output.collect(outcome("web1"));
  assert.equal(new TextDecoder().decode(whole.stdout), "abc");
  assert.equal(whole.truncated, false, "exactly the limit is not cut");
  output.push("stdout", bytes("defg"));
  output.push("stdout", bytes("h"));
  const cut = output.collect(outcome("web1"));
  assert.equal(new TextDecoder().decode(cut.stdout), "abcde");
  assert.equal(new TextDecoder().decode(cut.stderr), "12345");
  assert.equal(cut.truncated, true);

  assert.equal(
    written(formatBlock(cut, noPaint)),
    "--- web1 (exit 0; output cut at 32 MiB) ---\nabcde\n! 12345\n",
  );
  assert.equal(JSON.parse(formatJsonRecord(cut)).truncated, true);
  // A cut output never groups with a whole one, even with the same bytes.
  const groups = gatherOutputs([
    collected(outcome("a1"), "abcde", "12345"),
    { ...cut, outcome: outcome("a2") },
  ]);
  assert.equal(groups.length, 2);
});

Deno.test("the limit keeps the largest JSON record under V8's longest string", () => {
  // Each byte 0x00 becomes six characters (\u0000), in both streams.
  const worst = 2 * 6 * BUFFERED_STREAM_LIMIT + 1024;
  assert.ok(worst < 2 ** 29 - 24, String(worst));
});

Deno.test("outdir names are filesystem-safe and distinct", () => {
  assert.deepEqual(
    outdirNames(["ops@web1:22", "[::1]:2222", "../etc", "a/b", "a_b", ".x"]),
    ["ops@web1_22", "___1__2222", "_._etc", "a_b", "a_b~2", "_x"],
  );
});

Deno.test("categories and exit code precedence 130 > 7 > 8 > 6 > 0", () => {
  const ok = outcome("a");
  const failed = outcome("b", { exitCode: 3 });
  const killed = outcome("c", { exitCode: null, signal: "KILL" });
  const timedOut = outcome("d", {
    exitCode: null,
    error: { kind: "timeout", message: "no exit after 1s" },
  });
  const refused = outcome("e", {
    exitCode: null,
    error: { kind: "auth", message: "all keys rejected" },
  });
  const unreachable = outcome("f", {
    exitCode: null,
    error: { kind: "unreachable", message: "connection refused" },
  });
  assert.equal(categorize(killed), "failed");
  assert.equal(categorize(refused), "refused");
  assert.equal(exitCodeFor([ok]), ExitCode.OK);
  assert.equal(exitCodeFor([ok, killed]), ExitCode.REMOTE_COMMAND_FAILED);
  assert.equal(exitCodeFor([failed, timedOut]), ExitCode.REMOTE_TIMEOUT);
  assert.equal(
    exitCodeFor([failed, timedOut, refused]),
    ExitCode.REMOTE_UNREACHABLE,
  );
  assert.equal(exitCodeFor([unreachable, ok]), ExitCode.REMOTE_UNREACHABLE);
  // An interrupted run says so above everything else.
  const interrupted = outcome("g", {
    exitCode: null,
    error: { kind: "interrupted", message: "stopped" },
  });
  assert.equal(categorize(interrupted), "interrupted");
  assert.equal(
    exitCodeFor([unreachable, timedOut, interrupted]),
    ExitCode.INTERRUPTED,
  );
});

Deno.test("the summary folds host-key refusals by what happened, not by each host's key", () => {
  const unknown = (label: string, fingerprint: string) =>
    outcome(label, {
      exitCode: null,
      error: {
        kind: "host-key",
        message: `unknown host key for ${label} (ssh-ed25519 ${fingerprint})`,
        hint:
          "check the fingerprint, then run again with --accept-new to record it",
        brief:
          "unknown host key; check the fingerprints, then run again with --accept-new",
      },
    });
  assert.equal(
    formatSummary(
      [
        unknown("web01", "SHA256:aaa"),
        unknown("web02", "SHA256:bbb"),
        unknown("web03", "SHA256:ccc"),
      ],
      noPaint,
    ),
    "3 hosts: 3 refused\n" +
      "  refused (host-key): web[01-03] (unknown host key; check the fingerprints, then run again with --accept-new)\n",
  );
});

Deno.test("the summary counts each category and folds hosts per status", () => {
  const outcomes = [
    outcome("web01"),
    outcome("web02", { exitCode: 3 }),
    outcome("web03", { exitCode: 3 }),
    outcome("web04", { exitCode: null, signal: "TERM" }),
    outcome("web05", {
      exitCode: null,
      error: { kind: "unreachable", message: "connection refused" },
    }),
    outcome("web06", {
      exitCode: null,
      error: { kind: "host-key", message: "unknown host key" },
    }),
    outcome("web07", {
      exitCode: null,
      error: { kind: "timeout", message: "no exit after 1s" },
    }),
    outcome("web08"),
  ];
  assert.equal(
    formatSummary(outcomes, noPaint),
    "8 hosts: 2 succeeded, 3 failed, 1 unreachable, 1 refused, 1 timed out\n" +
      "  failed (exit 3): web[02-03]\n" +
      "  failed (signal TERM): web04\n" +
      "  unreachable: web05 (connection refused)\n" +
      "  refused (host-key): web06 (unknown host key)\n" +
      "  timed out: web07 (no exit after 1s)\n",
  );
  assert.equal(
    formatSummary([outcome("a")], noPaint),
    "1 host: 1 succeeded\n",
  );
});
