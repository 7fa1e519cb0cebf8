import { readFileSync } from "node:fs";
import { GgmlType, readGguf, writeGguf, type TensorToWrite } from "../../core/gguf/index.ts";
import { prng } from "./synthetic-model.ts";

/**
 * Copies a GGUF whose tensors are all F32, adding uniform noise of `relative` times each tensor's RMS to every
 * weight: a model with the same vocabulary whose predictions differ a little (a draft that gets rejected).
 */
export function writePerturbedModel(src: string, dst: string, relative: number, seed = 7): void {
  const file = readGguf(src);
  const bytes = readFileSync(src);
  const rand = prng(seed);
  const tensors: TensorToWrite[] = file.tensors.map((t) => {
    if (t.type !== GgmlType.F32) throw new Error(`writePerturbedModel: ${t.name} is not F32`);
    const start = file.dataOffset + t.offset;
    const w = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + t.nBytes));
    let ss = 0;
    for (const x of w) ss += x * x;
    const scale = relative * Math.sqrt(ss / w.length) * Math.sqrt(3); // uniform(-a, a) has RMS a / sqrt(3)
    for (let i = 0; i < w.length; i++) w[i]! += (rand() * 2 - 1) * scale;
    return { name: t.name, dims: t.dims, type: t.type, data: new Uint8Array(w.buffer) };
  });
  writeGguf(dst, { metadata: file.metadata, tensors });
}
