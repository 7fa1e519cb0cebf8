import { GgmlType, readGguf, readTensorData, writeGguf, type GgufFile, type TensorInfo, type TypedValue, GgufValueType } from "../gguf/index.ts";
import { nativeKernels } from "../native-kernels.ts";
import { QUANT_FTYPES, type QuantFtype } from "./ftypes.ts";
import { llamaTensorOrder, planTensorTypes } from "./mix.ts";

export interface QuantizeOptions {
  /** Accept already-quantized source tensors (they are dequantized first, losing precision twice). */
  allowRequantize?: boolean;
}

/** Per-tensor outcome, for reporting. */
export interface QuantizedTensor { name: string; from: GgmlType; to: GgmlType; bytes: number }

const FLOAT_SOURCES = new Set<GgmlType>([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

/**
 * Writes `dst`: `src` with its weights converted to `ftype`'s mix (see planTensorTypes), its metadata copied, and
 * general.quantization_version / general.file_type set, tensors in llama.cpp's loader order, as llama-quantize does. Rows are quantized with the
 * reference quantizers, so the tensor data equals llama-quantize's (without an imatrix).
 */
export function quantizeGguf(src: string, dst: string, ftype: QuantFtype, opts: QuantizeOptions = {}): QuantizedTensor[] {
  const f = readGguf(src);
  const plan = planTensorTypes(f, ftype);
  const report: QuantizedTensor[] = [];
  const tensors = llamaTensorOrder(f.tensors).map((t) => {
    const to = plan.get(t.name)!;
    const data = to === t.type ? readTensorData(f, t) : convertTensor(f, t, to, opts);
    report.push({ name: t.name, from: t.type, to, bytes: data.length });
    return { name: t.name, dims: t.dims, type: to, data };
  });
  const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
  const metadata = [...f.metadata]
    .filter(([k]) => k !== "general.quantization_version" && k !== "general.file_type")
    .map(([k, value]): [string, TypedValue] => [k, { type: f.metadataTypes.get(k)!, value }]);
  writeGguf(dst, {
    metadata: [...metadata, ["general.quantization_version", u32(2)], ["general.file_type", u32(QUANT_FTYPES[ftype].ftype)]],
    tensors,
  });
  return report;
}

function convertTensor(f: GgufFile, t: TensorInfo, to: GgmlType, opts: QuantizeOptions): Uint8Array {
  if (!FLOAT_SOURCES.has(t.type) && !opts.allowRequantize) {
    throw new Error(`quantize: tensor '${t.name}' is already quantized; pass allowRequantize to convert it anyway`);
  }
  const raw = readTensorData(f, t);
  const cols = t.dims[0]!, rows = t.nElements / cols;
  const srcRow = raw.length / rows;
  let out: Uint8Array | undefined;
  for (let r = 0; r < rows; r++) {
    const floats = nativeKernels.dequantizeRow(t.type, raw.subarray(r * srcRow, (r + 1) * srcRow), cols);
    const q = nativeKernels.quantizeRow(to, floats);
    out ??= new Uint8Array(q.length * rows);
    out.set(q, r * q.length);
  }
  return out!;
}
