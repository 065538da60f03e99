/**
 * The TCP socket under an SSH connection.
 *
 * ssh2 hands every AES-GCM packet to the socket as three writes (length,
 * ciphertext, tag) and often sends several packets in a row, so a plain
 * socket makes about 30 send() calls per `exec` host. Each send() costs the
 * client real CPU (on loopback the kernel does the receiving side's work in
 * the sender's call), which at hundreds of hosts was the largest single part
 * of exec's CPU. Writes made in the same turn of the event loop are gathered
 * here and leave in one writev() when the turn ends (setImmediate): same
 * bytes, same order, a third of the system calls. The whole turn, not just
 * its first job: ssh2 writes some replies from promise and nextTick
 * callbacks (the channel close, then the disconnect), which then share a
 * writev too.
 */
import { Socket } from "node:net";
import { setImmediate } from "node:timers";

/** Starts a TCP connection to HOST:PORT for ssh2 to take over. */
export function openSocket(host: string, port: number): Socket {
  const socket = new Socket();
  socket.connect({ host, port });
  // After connect(): Deno's connect() installs the socket's own `write`.
  gatherWrites(socket);
  return socket;
}

function gatherWrites(socket: Socket): void {
  const write = socket.write;
  let gathering = false;
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    if (!gathering) {
      gathering = true;
      this.cork();
      setImmediate(() => {
        gathering = false;
        this.uncork();
      });
    }
    return Reflect.apply(write, this, args);
  } as Socket["write"];
}
