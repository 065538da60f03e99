import assert from "node:assert/strict";
import {
  formatSection,
  leastSquares,
  type Measurement,
  medianRows,
} from "../scripts/bench/exec.ts";
import { median } from "../scripts/bench/sections.ts";

Deno.test("leastSquares finds the line through points, and none without two distinct x", () => {
  const line = leastSquares([[10, 0.55], [50, 0.75], [100, 1.0], [200, 1.5]]);
  assert.ok(line);
  assert.ok(Math.abs(line.slope - 0.005) < 1e-12, String(line.slope));
  assert.ok(Math.abs(line.intercept - 0.5) < 1e-12, String(line.intercept));
  // Noise around the line moves it only a little.
  const noisy = leastSquares([[10, 0.56], [50, 0.74], [100, 1.01], [
    200,
    1.49,
  ]]);
  assert.ok(noisy && Math.abs(noisy.slope - 0.005) < 2e-4);
  assert.equal(leastSquares([[100, 1]]), null);
  assert.equal(leastSquares([[100, 1], [100, 2]]), null);
});

Deno.test("median: the middle value, or the mean of the two middle ones", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

Deno.test("medianRows: one row per tool and host count, in first-seen order", () => {
  const run = (
    tool: string,
    hosts: number,
    cpuSeconds: number,
    answered = hosts,
    exitCode = 0,
  ): Measurement => ({
    tool,
    hosts,
    wallSeconds: cpuSeconds * 10,
    cpuSeconds,
    peakRssMb: 90 + cpuSeconds,
    answered,
    exitCode,
    loadBefore: 1,
  });
  const rows = medianRows([
    run("sessions exec", 10, 0.5),
    run("pdsh", 10, 1.5),
    run("sessions exec", 10, 0.4),
    run("pdsh", 10, 1.3, 9, 1),
    run("sessions exec", 10, 0.9),
    run("pdsh", 10, 1.4),
    run("sessions exec", 200, 1.3),
  ]);
  assert.deepEqual(
    rows.map((
      row,
    ) => [row.tool, row.hosts, row.cpuSeconds, row.answered, row.exitCode]),
    [
      ["sessions exec", 10, 0.5, 10, 0],
      ["pdsh", 10, 1.4, 9, 1],
      ["sessions exec", 200, 1.3, 200, 0],
    ],
  );
  assert.equal(rows[0].wallSeconds, 5);
  assert.equal(rows[0].peakRssMb, 90.5);
});

Deno.test("formatSection: the verdict at the largest count, with the other tools' CPU for scale", () => {
  const run = (tool: string, hosts: number, cpuSeconds: number) => ({
    tool,
    hosts,
    wallSeconds: tool === "sessions exec" ? 10 : 20,
    cpuSeconds,
    peakRssMb: 90,
    answered: hosts,
    exitCode: 0,
    loadBefore: 1,
  });
  const text = formatSection([
    run("sessions exec", 10, 0.5),
    run("sessions exec", 200, 1.2),
    run("pdsh", 200, 28),
    run("clush", 200, 33),
  ], new Date("2026-11-24T08:00:00Z"));
  assert.match(
    text,
    /At 200 hosts: wall 10\.00 s = 0\.50x the best other tool \(target ≤ 0\.6x\); CPU 6\.0\s+ms per host/,
  );
  assert.match(
    text,
    /OpenSSH-based tools used 140-165 ms of CPU\s+per host/,
  );
});
