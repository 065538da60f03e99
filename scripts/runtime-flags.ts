/**
 * The flags `sessions` runs with, in one place: `deno compile` bakes them
 * into the binary, the `sessions` task in deno.json uses them (a test checks
 * it), and every end-to-end test starts `sessions` with them, so a missing
 * permission fails a test here rather than in a user's binary.
 *
 * Permissions:
 * - env, read, write: HOME, SSH_AUTH_SOCK, TMUX/STY/ZELLIJ; ~/.ssh, config,
 *   known_hosts (written on accept), --outdir, upgrade's own binary.
 * - net: SSH to any host the user names; upgrade's download.
 * - sys: what node:os asks of ssh2 and of the CLI.
 * - run: only the three multiplexers, and `ps` to tell which of them is
 *   the inner one when sessions runs inside two (screen in a tmux pane).
 *
 * V8 `--single-threaded`: garbage collection and optimizing compilation run
 * on the main thread instead of V8's worker threads. `sessions` is one
 * event loop waiting on sockets, so nothing is lost in wall time, and the
 * helper threads' hand-offs cost CPU: in ten paired runs of exec on 200
 * loopback hosts the client's CPU time was lower in nine, by 6.7% on
 * average, with the same peak memory; `sessions list` start-up is unchanged.
 *
 * V8 `--max-semi-space-size=2` (MB): a smaller young generation. Each
 * connection's short-lived buffers die young either way; with V8's default
 * the young generation grows larger and more survives to be copied. At 200
 * loopback hosts (fan-out 64), against the default: client CPU 7.0% lower
 * over 12 paired runs (lower in 11) and 8.5% lower over 10 more in the other
 * order; peak memory 80 instead of 92 MB. One host and a 13 MB output: the
 * same or slightly better. 1 MB was slower; 4 MB the same CPU, more memory.
 */
export const RUNTIME_FLAGS: readonly string[] = [
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-sys=hostname,osRelease,homedir,uid,gid",
  "--allow-run=tmux,screen,zellij,ps",
  "--v8-flags=--single-threaded,--max-semi-space-size=2",
];
