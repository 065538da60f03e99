import { runFastPath } from "./cli/fast-path.ts";

// commander (and everything behind it) loads only when the fast path declines.
const fastExitCode = await runFastPath(Deno.args);
Deno.exit(fastExitCode ?? await (await import("./cli/app.ts")).run(Deno.args));
