import { Command } from "@commander-js/extra-typings";

export function upgradeCommand() {
  return new Command("upgrade")
    .description(
      "replace this binary with a release, checksum-verified (the latest unless --version is given)",
    )
    .option("--version <version>", "install this release, e.g. 1.2.3")
    .action(async ({ version }) => {
      // Loaded on use: zlib and the archive code are not needed by other commands.
      const { runUpgrade } = await import("../release/upgrade-command.ts");
      await runUpgrade(version ?? null);
    });
}
