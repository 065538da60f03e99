/** What went wrong on the remote side, for cli/ to word and map to an exit code. */

export type RemoteErrorKind =
  /** Bad target list, config file line, flag value. */
  | "usage"
  /** Could not connect: refused, no route, DNS, handshake timeout, connection lost. */
  | "unreachable"
  /** Every authentication method was rejected, or a key could not be read. */
  | "auth"
  /** The host key is unknown (and not accepted), changed, or revoked. */
  | "host-key"
  /** The command ran longer than --timeout. */
  | "timeout"
  /** The run was interrupted (Ctrl-C, SIGTERM, SIGHUP, output closed) before this host finished. */
  | "interrupted";

export class RemoteError extends Error {
  constructor(
    readonly kind: RemoteErrorKind,
    message: string,
    readonly hint?: string,
    /**
     * What happened without this host's own details (name, fingerprint),
     * so a summary can put many hosts on one line.
     */
    readonly brief?: string,
  ) {
    super(message);
    this.name = "RemoteError";
  }
}
