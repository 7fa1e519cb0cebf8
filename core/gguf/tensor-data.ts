import { closeSync, openSync, readSync } from "node:fs";
import type { GgufFile } from "./reader.ts";
import type { TensorInfo } from "./types.ts";

/** Copies one tensor's bytes out of the file (for tools such as quantize; inference maps the file instead). */
export function readTensorData(f: GgufFile, t: TensorInfo): Uint8Array {
  const out = new Uint8Array(t.nBytes);
  const fd = openSync(f.path, "r");
  try {
    readSync(fd, out, 0, t.nBytes, f.dataOffset + t.offset);
  } finally {
    closeSync(fd);
  }
  return out;
}
