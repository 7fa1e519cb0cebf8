import { renameSync, rmSync, writeFileSync } from "node:fs";

/** Writes through a temporary file in the same folder and renames it, so readers never see a partial file. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
