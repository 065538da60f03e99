/**
 * Limits shared by the command line and the config file, in a module of
 * their own so the command tree can check flags without loading remote/.
 */

/** The largest fan-out, of `--parallel N` and of the config file's `parallel` alike. */
export const MAX_FAN_OUT = 10_000;
