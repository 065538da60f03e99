/**
 * The shapes shared inside remote/: a target as the user wrote it, and the
 * settings resolved for it from ~/.ssh/config, the sessions config file and
 * command-line overrides (in OpenSSH's order: first value wins).
 */

/** One host from --targets / --targets-file after range and group expansion. */
export interface Target {
  /** The text that names this host in output: `user@host:port` as written, minus nothing. */
  label: string;
  /** The host as written (an alias that ~/.ssh/config may map to a HostName). */
  host: string;
  user?: string;
  port?: number;
}

export type StrictHostKeyChecking = "yes" | "no" | "accept-new" | "ask";

/** Everything needed to open one SSH connection, resolved once per run. */
export interface HostSettings {
  target: Target;
  /** What to connect to (HostName after token expansion). */
  hostname: string;
  port: number;
  user: string;
  /** Expanded paths, in the order OpenSSH would try them. */
  identityFiles: string[];
  /** True when IdentityFile came from config or --key (not defaults). */
  identityFilesExplicit: boolean;
  /**
   * The ones of `identityFiles` given with --key: as `ssh -i` does, one that
   * does not exist is warned of (a missing IdentityFile is passed over).
   */
  commandLineIdentityFiles: string[];
  identitiesOnly: boolean;
  /** ProxyJump hops, first hop first, each resolved the same way; empty for a direct connection. */
  proxyJump: HostSettings[];
  /** Seconds, or null for the default. */
  connectTimeout: number | null;
  /** Seconds; 0 = off. */
  serverAliveInterval: number;
  serverAliveCountMax: number;
  /** null when neither config nor flags set it (OpenSSH then behaves as "ask"). */
  strictHostKeyChecking: StrictHostKeyChecking | null;
  /** Expanded UserKnownHostsFile list (default ~/.ssh/known_hosts, ~/.ssh/known_hosts2). */
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  /** The name host keys are looked up and recorded under (HostKeyAlias, else hostname). */
  hostKeyAlias: string | null;
  forwardAgent: boolean;
  /**
   * ProxyCommand from the config when it applies (and is not "none"): not
   * supported by sessions, so the engine must refuse the host rather than
   * connect directly. Absent or null when unset.
   */
  proxyCommand?: string | null;
}
