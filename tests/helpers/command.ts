/** Runs a program to completion with piped output, for tests of scripts and shells. */

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

export async function runCommand(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean; cwd?: string } =
    {},
): Promise<CommandResult> {
  const output = await new Deno.Command(command, {
    args,
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
