/**
 * Where `sessions upgrade` gets its inputs: the running platform and binary,
 * SESSIONS_BASE_URL for mirrors, and SESSIONS_UPGRADE_PATH, a test hook that
 * names the file to replace (and so allows running under `deno run`).
 */
import { CliError } from "../errors.ts";
import { writeErr } from "../output.ts";
import { VERSION } from "../version.ts";
import { DEFAULT_RELEASES_URL, targetFor } from "./targets.ts";
import { notUpgradable, upgrade } from "./upgrade.ts";

export async function runUpgrade(version: string | null): Promise<void> {
  const target = targetFor(Deno.build.os, Deno.build.arch);
  if (!target) {
    throw new CliError(
      `there are no releases for ${Deno.build.os} on ${Deno.build.arch}`,
      undefined,
      "build from source instead",
    );
  }
  const override = Deno.env.get("SESSIONS_UPGRADE_PATH");
  const binaryPath = override || Deno.execPath();
  const refusal = override ? null : notUpgradable(binaryPath);
  if (refusal) {
    throw new CliError(refusal, undefined, "update the checkout instead");
  }
  const result = await upgrade({
    version,
    currentVersion: VERSION,
    baseUrl: Deno.env.get("SESSIONS_BASE_URL") || DEFAULT_RELEASES_URL,
    binaryPath,
    target,
  });
  if (Deno.stderr.isTerminal()) {
    writeErr(
      result.replaced
        ? `sessions ${result.version} is now at ${binaryPath}\n`
        : `sessions ${VERSION} is the latest release\n`,
    );
  }
}
