/**
 * The permissions `sessions` runs with, in one place: `deno compile` bakes
 * them into the binary, the `sessions` task in deno.json uses them (a test
 * checks it), and every end-to-end test starts `sessions` with them, so a
 * missing permission fails a test here rather than in a user's binary.
 *
 * - env, read, write: HOME, SSH_AUTH_SOCK, TMUX/STY/ZELLIJ; ~/.ssh, config,
 *   known_hosts (written on accept), --outdir, upgrade's own binary.
 * - net: SSH to any host the user names; upgrade's download.
 * - sys: what node:os asks of ssh2 and of the CLI.
 * - run: only the three multiplexers.
 */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-sys=hostname,osRelease,homedir,uid,gid",
  "--allow-run=tmux,screen,zellij",
];
