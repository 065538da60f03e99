import { deepEqual, equal } from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { openSocket } from "../remote/socket.ts";

Deno.test("openSocket gathers the writes of one turn of the event loop and delivers them in order", async () => {
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
      // A later job of the same turn (as ssh2's replies from promise and
      // nextTick callbacks are) still joins the same writev.
      queueMicrotask(() => {
        corked.push(socket.writableCorked);
        socket.write("ciphertext|");
      });
      setTimeout(() => {
        corked.push(socket.writableCorked);
        socket.write("tag");
        socket.end();
      }, 10);
    });
  }
  equal(await received, "length|ciphertext|tag");
  // Held back for the whole turn (one writev), released before the next.
  deepEqual(corked, [1, 1, 0]);
});
