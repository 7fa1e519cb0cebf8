import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

/** A SHA-256 hash fed with the whole file, streamed (still open for more data, e.g. to resume a download). */
export async function hashFile(file: string): Promise<Hash> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash;
}

/** The file's SHA-256 as lowercase hex (how recipes pin their model). */
export async function sha256File(file: string): Promise<string> {
  return (await hashFile(file)).digest("hex");
}
