import { parentPort } from "node:worker_threads";
import { EngineHost } from "./engine-host.ts";
import { decode, encode, type Request } from "./protocol.ts";

// The worker thread's wiring: MessagePack bytes in, EngineHost, MessagePack bytes out (transferred, not copied).
const port = parentPort;
if (!port) throw new Error("engine-worker.ts runs inside a worker thread (see engine-client.ts)");
const host = new EngineHost((event) => {
  const bytes = encode(event);
  port.postMessage(bytes, [bytes.buffer]);
});
port.on("message", (bytes: Uint8Array) => host.handle(decode<Request>(bytes)));
