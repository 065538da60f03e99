/**
 * The parts of ssh2 that `sessions` runs, and the one place that reaches
 * past its public entry point.
 *
 * Loaded file by file: ssh2's entry point also loads its server, its key
 * generator and its HTTP agents, and with them node:http, node:https and
 * node:tls, none of which `sessions` uses. Skipping them saves about 8 ms
 * of CPU on every `exec` and `connect`. The version is pinned in deno.json;
 * ssh2's package has no "exports" map, so these are its published files, and
 * a test checks that they are the very objects the entry point exports.
 *
 * Types still come from the entry point (`import type` loads nothing).
 */
import type * as Ssh2 from "ssh2";
import ClientFile from "ssh2/lib/client.js";
import AgentFile from "ssh2/lib/agent.js";
import KeyParserFile from "ssh2/lib/protocol/keyParser.js";
import MESSAGE_HANDLERS from "ssh2/lib/protocol/handlers.js";
import ProtocolFile from "ssh2/lib/protocol/Protocol.js";

export type Client = Ssh2.Client;
export const Client: typeof Ssh2.Client = ClientFile;
export type OpenSSHAgent = Ssh2.OpenSSHAgent;
export const OpenSSHAgent: typeof Ssh2.OpenSSHAgent = AgentFile.OpenSSHAgent;
export const parseKey: typeof Ssh2.utils.parseKey = KeyParserFile.parseKey;

const GLOBAL_REQUEST = 80;
const HOST_KEYS_ANNOUNCEMENT = new TextEncoder().encode(
  "hostkeys-00@openssh.com",
);

/**
 * For a GLOBAL_REQUEST payload (type byte first) that is OpenSSH's host key
 * announcement, whether the server wants a reply; null for any other
 * request.
 */
export function hostKeyAnnouncement(
  payload: Uint8Array,
): { wantReply: boolean } | null {
  const nameLength = HOST_KEYS_ANNOUNCEMENT.length;
  if (payload.length < 1 + 4 + nameLength + 1) return null;
  const view = new DataView(
    payload.buffer,
    payload.byteOffset,
    payload.byteLength,
  );
  if (view.getUint32(1) !== nameLength) return null;
  for (let i = 0; i < nameLength; i++) {
    if (payload[5 + i] !== HOST_KEYS_ANNOUNCEMENT[i]) return null;
  }
  return { wantReply: payload[5 + nameLength] !== 0 };
}

/**
 * After login OpenSSH announces all its host keys (`hostkeys-00`, no reply
 * asked). ssh2 parses every key of it (an RSA key is costly) and asks the
 * server to prove each one (one more round trip, a signature per key on the
 * server, a verification per key here), only to emit its `hostkeys` event,
 * which `sessions` does not use: known_hosts is never updated from these
 * keys (OpenSSH does so only with UpdateHostKeys). So the announcement is
 * taken here, before ssh2 parses it, and declined if a server wants a reply
 * (RFC 4254 §4: the answer to a request one does not support).
 * ssh2 has no option for this; its table of message handlers, shared by
 * the whole process, is patched once, and left as it is if it does not have
 * the expected shape: then the proofs cost time, not correctness.
 */
function takeHostKeyAnnouncements(): void {
  const handlers = MESSAGE_HANDLERS as unknown;
  if (!Array.isArray(handlers)) return;
  const handle = handlers[GLOBAL_REQUEST];
  if (typeof handle !== "function") return;
  handlers[GLOBAL_REQUEST] = (
    protocol: { _server?: boolean; requestFailure(): void },
    payload: Uint8Array,
  ) => {
    // The table serves every ssh2 connection of the process; a server
    // (only the tests run one) keeps ssh2's own handling.
    const announcement = protocol._server ? null : hostKeyAnnouncement(payload);
    if (announcement === null) return handle(protocol, payload);
    if (announcement.wantReply) protocol.requestFailure();
  };
}

takeHostKeyAnnouncements();

/** The hash each RSA signature algorithm signs with (ssh2's names). */
const RSA_HASHES: Readonly<Record<string, string>> = {
  "ssh-rsa": "sha1",
  "rsa-sha2-256": "sha256",
  "rsa-sha2-512": "sha512",
};

type SignCallback = (
  data: Uint8Array,
  send: (signature: Uint8Array) => void,
) => void;

interface PublicKeyRequests {
  authPK(
    username: string,
    key: unknown,
    keyAlgo: string | undefined,
    sign?: SignCallback,
  ): void;
}

/**
 * Signs the first publickey request for a key whose private half is held
 * here, instead of first asking whether the server would accept the key.
 * ssh2 always asks (one more round trip, a packet each way) and signs only
 * after the server's "yes". RFC 4252 §7 makes the question optional, there
 * to spare a passphrase prompt or an expensive signature; the passphrase was
 * asked once per run already and an ed25519 signature is cheap, and the
 * answer to a signed request is the answer to the question. (OpenSSH asks
 * first for a key whose public half it has and signs directly for a key
 * file without one.) The cost: one signature for a key the server then
 * refuses. Keys held by an agent are still asked about first (their public
 * half is all ssh2 has). If signing fails here, the request goes out
 * unsigned, so ssh2's own path reports the failure. Patched on ssh2's
 * Protocol class once; left as it is if it lacks the expected method.
 */
function signFirstPublicKeyRequest(): void {
  const prototype = (ProtocolFile as { prototype?: unknown }).prototype as
    | Partial<PublicKeyRequests>
    | undefined;
  const authPK = prototype?.authPK;
  if (!prototype || typeof authPK !== "function") return;
  prototype.authPK = function (
    this: PublicKeyRequests,
    username,
    key,
    keyAlgo,
    sign,
  ) {
    const held = key as Partial<Ssh2.ParsedKey>;
    if (
      sign !== undefined || typeof held.sign !== "function" ||
      !held.isPrivateKey?.()
    ) {
      return authPK.call(this, username, key, keyAlgo, sign);
    }
    const hash = keyAlgo === undefined ? undefined : RSA_HASHES[keyAlgo];
    authPK.call(this, username, key, keyAlgo, (data, send) => {
      const signature = held.sign!(data as Buffer, hash);
      if (signature instanceof Error) authPK.call(this, username, key, keyAlgo);
      else send(signature);
    });
  };
}

signFirstPublicKeyRequest();

/**
 * Stops CHANNEL from destroying itself once both its directions are done.
 * The stream's automatic destroy calls ssh2's `destroy()`, which ends the
 * already ended channel again (Node builds an ERR_STREAM_ALREADY_FINISHED
 * error, with its stack trace, for every host only to drop it) and closes
 * it. The caller closes the channel itself when the command is done; ssh2
 * answers the server's CHANNEL_CLOSE and emits `close` either way. ssh2
 * itself reads `_writableState`; an ssh2 whose channels lack it is left as
 * it is.
 */
export function skipAutoDestroy(channel: Ssh2.ClientChannel): void {
  const state = (channel as unknown as {
    _writableState?: { autoDestroy?: boolean };
  })._writableState;
  if (typeof state?.autoDestroy === "boolean") state.autoDestroy = false;
}
