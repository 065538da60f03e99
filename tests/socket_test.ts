import { deepEqual, equal } from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { openSocket } from "../remote/socket.ts";

Deno.test("openSocket gathers the writes of one turn and delivers them in order", async () => {
  const received: Promise<string> = new Promise((resolve) => {
    const server = createServer((peer) => {
      let text = "";
      peer.on("data", (chunk) => text += chunk.toString());
      peer.on("end", () => {
        peer.end();
        server.close(() => resolve(text));
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      send(openSocket("127.0.0.1", port));
    });
  });
  const corked: number[] = [];
  function send(socket: Socket) {
    socket.on("connect", () => {
      socket.write("length|");
      corked.push(socket.writableCorked);
      socket.write("ciphertext|");
      socket.write("tag");
      queueMicrotask(() => {
        // Reached after the socket's own flush, which was queued first.
        corked.push(socket.writableCorked);
        socket.end();
      });
    });
  }
  equal(await received, "length|ciphertext|tag");
  // Held back within the turn (one writev), released at its end.
  deepEqual(corked, [1, 0]);
});
