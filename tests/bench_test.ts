import assert from "node:assert/strict";
import { leastSquares } from "../scripts/bench/exec.ts";

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
