import { FileCursor } from "./file-cursor.ts";
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType, ggmlTypeName, typeTraits,
  type GgufArray, type GgufValue, type TensorInfo, type GgmlType,
} from "./types.ts";

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Each metadata key's stored value type: scalars read back as plain numbers, and rewriting a file (quantize)
   *  must keep e.g. a FLOAT32 10000 from becoming a UINT32 that llama.cpp refuses. */
  readonly metadataTypes: ReadonlyMap<string, GgufValueType>;
  readonly tensors: readonly TensorInfo[];
  readonly alignment: number;
  /** Absolute file offset of the tensor data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
}

const MAX_DIMS = 4;
/** Smallest encodings, used to reject counts that cannot fit in what is left of the file. */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;
const SCALAR_SIZES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1, [GgufValueType.INT8]: 1, [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2, [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4, [GgufValueType.INT32]: 4, [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8, [GgufValueType.INT64]: 8, [GgufValueType.FLOAT64]: 8,
};

/**
 * Reads and validates the header of a GGUF file (versions 2 and 3): metadata, tensor infos and the data
 * section's bounds. Tensor data stays on disk; the native side maps it.
 */
export function readGguf(path: string): GgufFile {
  const c = new FileCursor(path);
  try {
    return parse(c);
  } finally {
    c.close();
  }
}

function parse(c: FileCursor): GgufFile {
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) c.fail(`not a GGUF file (bad magic 0x${magic.toString(16).padStart(8, "0")})`);
  const version = c.u32("version");
  if (version !== 2 && version !== 3) c.fail(`unsupported GGUF version ${version} (2 and 3 are supported)`);
  const nTensors = c.count("tensor count", Math.floor(c.remaining / MIN_TENSOR_INFO_BYTES));
  const nKv = c.count("metadata count", Math.floor(c.remaining / MIN_KV_BYTES));

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, GgufValueType>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`metadata key #${i}`);
    if (metadata.has(key)) c.fail(`duplicate metadata key '${key}'`);
    const type = c.u32(`type of '${key}'`);
    metadata.set(key, readValue(c, type, key));
    metadataTypes.set(key, type);
  }

  const alignmentValue = metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignmentValue !== "number" || alignmentValue <= 0 || (alignmentValue & (alignmentValue - 1)) !== 0) {
    c.fail(`general.alignment must be a power of two, got ${String(alignmentValue)}`);
  }
  const alignment = alignmentValue;

  const raw: { name: string; dims: number[]; type: number; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`name of tensor #${i}`);
    if (names.has(name)) c.fail(`duplicate tensor '${name}'`);
    names.add(name);
    const nDims = c.u32(`dimension count of '${name}'`);
    if (nDims < 1 || nDims > MAX_DIMS) c.fail(`tensor '${name}' has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const n = c.count(`dimension ${d} of '${name}'`, 2 ** 40);
      if (n === 0) c.fail(`tensor '${name}' has a zero dimension`);
      dims.push(n);
    }
    const type = c.u32(`type of '${name}'`);
    const offset = c.count(`offset of '${name}'`, Number.MAX_SAFE_INTEGER);
    raw.push({ name, dims, type, offset });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (dataOffset > c.fileSize && nTensors > 0) c.fail(`data section starts at ${dataOffset}, past the end of the file`);
  const dataSize = c.fileSize - dataOffset;

  const tensors: TensorInfo[] = raw.map((t) => {
    const traits = typeTraits(t.type);
    if (!traits) c.fail(`tensor '${t.name}' has unsupported type ${ggmlTypeName(t.type)}`);
    const nElements = t.dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(nElements)) c.fail(`tensor '${t.name}' is too large`);
    if (t.dims[0]! % traits.blockSize !== 0) {
      c.fail(`tensor '${t.name}' row length ${t.dims[0]} is not a multiple of the ${ggmlTypeName(t.type)} block (${traits.blockSize})`);
    }
    if (t.offset % alignment !== 0) c.fail(`tensor '${t.name}' offset ${t.offset} is not aligned to ${alignment}`);
    const nBytes = (nElements / traits.blockSize) * traits.typeSize;
    if (t.offset + nBytes > dataSize) {
      c.fail(`tensor '${t.name}' (${nBytes} bytes at data offset ${t.offset}) lies outside the data section (${dataSize} bytes)`);
    }
    return { name: t.name, dims: t.dims, type: t.type as GgmlType, offset: t.offset, nElements, nBytes };
  });

  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!, cur = byOffset[i]!;
    if (prev.offset + prev.nBytes > cur.offset) c.fail(`tensors '${prev.name}' and '${cur.name}' overlap`);
  }

  return { path: c.path, version, metadata, metadataTypes, tensors, alignment, dataOffset, fileSize: c.fileSize };
}

function readValue(c: FileCursor, type: number, key: string): GgufValue {
  switch (type) {
    case GgufValueType.UINT8: return c.u8(key);
    case GgufValueType.INT8: return c.i8(key);
    case GgufValueType.UINT16: return c.u16(key);
    case GgufValueType.INT16: return c.i16(key);
    case GgufValueType.UINT32: return c.u32(key);
    case GgufValueType.INT32: return c.i32(key);
    case GgufValueType.FLOAT32: return c.f32(key);
    case GgufValueType.FLOAT64: return c.f64(key);
    case GgufValueType.UINT64: return narrow(c.u64(key));
    case GgufValueType.INT64: return narrow(c.i64(key));
    case GgufValueType.BOOL: {
      const b = c.u8(key);
      if (b > 1) c.fail(`'${key}' is a bool with value ${b}`);
      return b === 1;
    }
    case GgufValueType.STRING: return c.string(key);
    case GgufValueType.ARRAY: return readArray(c, key);
    default: return c.fail(`'${key}' has unknown value type ${type}`);
  }
}

/** 64-bit integers become numbers when exact, so hyperparameters can be used directly. */
function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readArray(c: FileCursor, key: string): GgufArray {
  const itemType = c.u32(`array type of '${key}'`);
  if (itemType === GgufValueType.ARRAY) c.fail(`'${key}' is an array of arrays, which GGUF does not allow`);
  const scalarSize = SCALAR_SIZES[itemType as GgufValueType];
  const minItem = scalarSize ?? 8;
  if (scalarSize === undefined && itemType !== GgufValueType.STRING) c.fail(`'${key}' has unknown array type ${itemType}`);
  const n = c.count(`length of array '${key}'`, Math.floor(c.remaining / minItem));
  if (itemType === GgufValueType.STRING) {
    return { itemType, items: c.strings(n, key) };
  }
  return { itemType, items: readNumericArray(c, itemType as GgufValueType, n, key) };
}

function readNumericArray(c: FileCursor, t: GgufValueType, n: number, key: string): ArrayLike<number | bigint> {
  const bytes = c.take(n * SCALAR_SIZES[t]!, `array '${key}'`);
  // Copy into an aligned buffer: the chunk view may sit at any byte offset.
  const copy = new Uint8Array(bytes).buffer;
  switch (t) {
    case GgufValueType.UINT8: return new Uint8Array(copy);
    case GgufValueType.INT8: return new Int8Array(copy);
    case GgufValueType.BOOL: return new Uint8Array(copy);
    case GgufValueType.UINT16: return new Uint16Array(copy);
    case GgufValueType.INT16: return new Int16Array(copy);
    case GgufValueType.UINT32: return new Uint32Array(copy);
    case GgufValueType.INT32: return new Int32Array(copy);
    case GgufValueType.FLOAT32: return new Float32Array(copy);
    case GgufValueType.FLOAT64: return new Float64Array(copy);
    case GgufValueType.UINT64: return new BigUint64Array(copy);
    case GgufValueType.INT64: return new BigInt64Array(copy);
    default: return c.fail(`'${key}' has unknown array type ${t}`);
  }
}
