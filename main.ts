import { run } from "./cli/app.ts";

Deno.exit(await run(Deno.args));
