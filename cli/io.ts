import { buffer } from "node:stream/consumers";

/** Reads all of stdin (empty when stdin is a terminal: nothing was piped). */
export async function readStdinBytes(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  return buffer(process.stdin);
}

export async function readStdin(): Promise<string> {
  return (await readStdinBytes()).toString("utf8");
}

export function writeJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Progress and logs go to stderr so stdout stays machine-readable. */
export function log(message: string): void {
  process.stderr.write(message + "\n");
}
