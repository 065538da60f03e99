import assert from "node:assert/strict";
import { parse } from "yaml";
import { TARGETS } from "../cli/release/targets.ts";

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string>;
}

Deno.test("the release workflow runs on version tags and ships every target", async () => {
  const workflow = parse(
    await Deno.readTextFile(
      new URL("../.github/workflows/release.yml", import.meta.url),
    ),
  );
  assert.deepEqual(workflow.on, { push: { tags: ["v*"] } });
  assert.equal(workflow.permissions.contents, "write");
  const steps: Step[] = workflow.jobs.release.steps;
  const runs = steps.map((step) => step.run ?? "");
  const setup = steps.find((step) =>
    step.uses?.startsWith("denoland/setup-deno@")
  );
  assert.equal(setup?.with?.["deno-version"], "v2.9.x");

  const order = [
    "scripts/test",
    "deno task compile",
    "deno task manifests",
    "gh release create",
  ]
    .map((command) => runs.findIndex((run) => run.startsWith(command)));
  assert.ok(order.every((index) => index >= 0), `steps found at ${order}`);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
    "test, compile, manifests, publish in order",
  );

  const compile = runs[order[1]];
  assert.deepEqual(
    [...compile.matchAll(/--target (\S+)/g)].map((match) => match[1]),
    TARGETS.map((target) => target.triple),
  );
  const publish = runs[order[3]];
  for (
    const asset of [
      "dist/sessions-*.tar.gz",
      "dist/sessions-*.zip",
      "dist/SHA256SUMS",
      "dist/sessions.rb",
      "dist/sessions.json",
      "install.sh",
    ]
  ) {
    assert.ok(publish.includes(asset), `the release gets ${asset}`);
  }
});
