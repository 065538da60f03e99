/**
 * BENCHMARKS.md is made of marked sections, one per benchmark
 * (`<!-- bench: NAME -->` … `<!-- /bench: NAME -->`), so each benchmark
 * rewrites its own part and leaves the others' figures alone.
 */

const HEADER =
  "# Benchmarks\n\nWritten by `deno task bench`; each section says how to reproduce it.\n";

/** Replaces (or appends) section NAME of FILE with BODY. */
export async function writeSection(
  file: string,
  name: string,
  body: string,
): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    text = HEADER;
  }
  const begin = `<!-- bench: ${name} -->`;
  const end = `<!-- /bench: ${name} -->`;
  const section = `${begin}\n${body.trimEnd()}\n${end}`;
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  text = start >= 0 && stop > start
    ? text.slice(0, start) + section + text.slice(stop + end.length)
    : `${text.trimEnd()}\n\n${section}\n`;
  await Deno.writeTextFile(file, text);
  // The file is checked by `deno fmt --check` like every other.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", file],
    stdout: "null",
  }).output();
}

/** Whether a command is on PATH (without running it). */
export async function onPath(command: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", 'command -v "$1" >/dev/null', "sh", command],
    stdout: "null",
    stderr: "null",
  }).output();
  return found.code === 0;
}

/**
 * Installs Debian PACKAGES with apt-get when running as root (or with
 * password-less sudo); otherwise throws with the line to run.
 */
export async function aptInstall(packages: string[]): Promise<void> {
  const root = Deno.uid() === 0;
  const prefix = root ? [] : ["sudo", "-n"];
  const install = async (args: string[]) => {
    const [command, ...rest] = [...prefix, "apt-get", ...args];
    return (await new Deno.Command(command, {
      args: rest,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "inherit",
      stderr: "inherit",
    }).output()).code === 0;
  };
  if (await install(["install", "-y", ...packages])) return;
  if (
    await install(["update"]) && await install(["install", "-y", ...packages])
  ) {
    return;
  }
  throw new Error(
    `could not install ${packages.join(" ")}: run 'sudo apt-get install -y ${
      packages.join(" ")
    }' and try again`,
  );
}

/** The middle value of VALUES (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}
