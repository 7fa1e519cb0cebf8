import http from "node:http";
import type { AddressInfo } from "node:net";

/** How the test server misbehaves; each hook sees the 0-based index of the request for that path. */
export interface ServedFile {
  readonly body: Buffer;
  /** Send the headers for the whole body, then only this many bytes, then drop the connection. */
  readonly cutAfter?: (request: number) => number | undefined;
  /** Send this many bytes, then neither send more nor close: a stalled server. */
  readonly stallAfter?: (request: number) => number | undefined;
  /** Answer Range requests with the whole file (200), like servers without range support. */
  readonly ignoreRange?: boolean;
}

export interface FileServer {
  readonly base: string;
  /** Range header of every request, in order ("" when absent). */
  readonly ranges: Map<string, string[]>;
  close(): Promise<void>;
}

/** A small HTTP server on 127.0.0.1 serving in-memory files with Range support and injectable faults. */
export async function startFileServer(files: Record<string, ServedFile>, redirects: Record<string, string> = {}): Promise<FileServer> {
  const ranges = new Map<string, string[]>();
  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url ?? "/", "http://x").pathname;
    if (redirects[urlPath]) {
      res.writeHead(302, { Location: redirects[urlPath] }).end();
      return;
    }
    const file = files[urlPath];
    if (!file) {
      res.writeHead(404).end("not found");
      return;
    }
    const seen = ranges.get(urlPath) ?? [];
    ranges.set(urlPath, seen);
    const request = seen.length;
    seen.push(req.headers.range ?? "");

    const size = file.body.length;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range && !file.ignoreRange) {
      start = Number(range[1]);
      if (start >= size) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { "Content-Range": `bytes ${start}-${size - 1}/${size}`, "Content-Length": size - start });
    } else {
      res.writeHead(200, { "Content-Length": size });
    }
    const cut = file.cutAfter?.(request);
    if (cut !== undefined) {
      res.write(file.body.subarray(start, start + cut), () => res.socket?.destroy());
      return;
    }
    const stall = file.stallAfter?.(request);
    if (stall !== undefined) {
      res.write(file.body.subarray(start, start + stall));
      return;
    }
    res.end(file.body.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    ranges,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A port on 127.0.0.1 where nothing listens, for "the network is unreachable". */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
