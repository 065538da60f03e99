/**
 * `deno task bench [NAME…]`: runs the benchmarks (all by default) and
 * rewrites each one's own section of BENCHMARKS.md. A benchmark is a module
 * under scripts/bench/ that measures and returns its Markdown section; add
 * one with a line in BENCHMARKS below.
 */
import { fileURLToPath } from "node:url";
import { writeSection } from "./bench/sections.ts";

const BENCHMARKS: Record<string, () => Promise<string>> = {
  local: async () => {
    const { formatLocalSection, runLocalBenchmark } = await import(
      "./bench/local.ts"
    );
    return formatLocalSection(await runLocalBenchmark(), new Date());
  },
  exec: async () => {
    const { formatSection, runExecBenchmark } = await import(
      "./bench/exec.ts"
    );
    return formatSection(await runExecBenchmark(), new Date());
  },
};

const OUTPUT = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

const names = Deno.args.length > 0 ? Deno.args : Object.keys(BENCHMARKS);
const unknown = names.filter((name) => !(name in BENCHMARKS));
if (unknown.length > 0) {
  console.error(
    `bench: unknown benchmark ${unknown.join(", ")} (known: ${
      Object.keys(BENCHMARKS).join(", ")
    })`,
  );
  Deno.exit(2);
}
for (const name of names) {
  console.error(`bench: ${name}`);
  const section = await BENCHMARKS[name]();
  console.log(section + "\n");
  await writeSection(OUTPUT, name, section);
}
// Sections are written as plain Markdown; `deno task check` wants the file formatted.
await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", OUTPUT] })
  .output();
