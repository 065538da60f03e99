import { deepEqual, equal } from "node:assert/strict";
import * as entryPoint from "ssh2";
import { concatBytes } from "../cli/exec-output.ts";
import {
  Client,
  hostKeyAnnouncement,
  OpenSSHAgent,
  parseKey,
} from "../remote/ssh2.ts";

Deno.test("ssh2's files, loaded one by one, are the objects its entry point exports", () => {
  equal(Client, entryPoint.Client);
  equal(OpenSSHAgent, entryPoint.OpenSSHAgent);
  equal(parseKey, entryPoint.utils.parseKey);
});

/** An SSH string: uint32 length, then the bytes. */
function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** A GLOBAL_REQUEST payload (RFC 4254 §4): type 80, name, want reply, data. */
function globalRequest(
  name: string,
  wantReply: boolean,
  data: Uint8Array[],
): Uint8Array {
  return concatBytes([
    Uint8Array.of(80),
    sshString(new TextEncoder().encode(name)),
    Uint8Array.of(wantReply ? 1 : 0),
    ...data,
  ]);
}

Deno.test("hostKeyAnnouncement recognises OpenSSH's hostkeys-00 request and nothing else", () => {
  // The data is one string per host key blob; it is never read.
  const keyBlob = sshString(new TextEncoder().encode("ssh-ed25519 blob"));
  deepEqual(
    hostKeyAnnouncement(
      globalRequest("hostkeys-00@openssh.com", false, [keyBlob, keyBlob]),
    ),
    { wantReply: false },
  );
  deepEqual(
    hostKeyAnnouncement(globalRequest("hostkeys-00@openssh.com", true, [])),
    { wantReply: true },
  );
  // Inside a larger buffer, as ssh2 hands payloads over.
  const request = globalRequest("hostkeys-00@openssh.com", false, [keyBlob]);
  const framed = new Uint8Array(request.length + 9);
  framed.set(request, 5);
  deepEqual(
    hostKeyAnnouncement(framed.subarray(5, 5 + request.length)),
    { wantReply: false },
  );
  equal(
    hostKeyAnnouncement(globalRequest("keepalive@openssh.com", true, [])),
    null,
  );
  equal(
    hostKeyAnnouncement(globalRequest("hostkeys-prove-00@openssh.com", true, [
      keyBlob,
    ])),
    null,
  );
  equal(
    hostKeyAnnouncement(globalRequest("hostkeys-00@openssh.co", false, [])),
    null,
  );
  // Cut short before the want-reply byte.
  equal(
    hostKeyAnnouncement(
      globalRequest("hostkeys-00@openssh.com", false, []).subarray(0, 28),
    ),
    null,
  );
});
