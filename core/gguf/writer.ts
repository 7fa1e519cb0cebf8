import { closeSync, openSync, writeSync } from "node:fs";
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType, byteSize,
  type GgmlType, type GgufArray, type GgufValue,
} from "./types.ts";

/** A metadata value with its GGUF type spelled out; plain values get a type inferred (see inferType). */
export interface TypedValue { readonly type: GgufValueType; readonly value: GgufValue }

export interface TensorToWrite {
  readonly name: string;
  /** ggml order: dims[0] is the row length. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  readonly data: Uint8Array | StreamedTensorData;
}

/** Tensor bytes produced piece by piece while the file is written, for files too big to hold in memory at once. */
export interface StreamedTensorData {
  readonly byteLength: number;
  chunks(): Iterable<Uint8Array>;
}

export interface GgufContents {
  readonly version?: 2 | 3;
  readonly metadata: Iterable<readonly [string, GgufValue | TypedValue]>;
  readonly tensors: readonly TensorToWrite[];
}

/** Writes a GGUF file, streaming tensor data (a StreamedTensorData tensor is never held whole). */
export function writeGguf(path: string, contents: GgufContents): void {
  const { header, layout } = encodeHeader(contents);
  const fd = openSync(path, "w");
  try {
    const put = (b: Uint8Array) => { for (let done = 0; done < b.length;) done += writeSync(fd, b, done); };
    put(header);
    forEachTensorData(contents, layout, put);
  } finally {
    closeSync(fd);
  }
}

/** Serializes a GGUF file in memory: header, metadata, tensor infos, then aligned tensor data. */
export function encodeGguf(contents: GgufContents): Buffer {
  const { header, layout } = encodeHeader(contents);
  const out = Buffer.alloc(header.length + layout.dataBytes);
  out.set(header);
  let at = header.length;
  forEachTensorData(contents, layout, (b) => { out.set(b, at); at += b.length; });
  return out;
}

interface DataLayout { readonly alignment: number; readonly offsets: readonly number[]; readonly dataBytes: number }

/** Everything before the tensor data (padded to the alignment), and where each tensor's data goes. */
function encodeHeader(contents: GgufContents): { header: Buffer; layout: DataLayout } {
  const out = new ByteSink();
  const metadata = [...contents.metadata];
  const alignmentEntry = metadata.find(([k]) => k === "general.alignment");
  const alignment = alignmentEntry ? Number(unwrap(alignmentEntry[1]).value) : GGUF_DEFAULT_ALIGNMENT;

  out.u32(GGUF_MAGIC);
  out.u32(contents.version ?? 3);
  out.u64(BigInt(contents.tensors.length));
  out.u64(BigInt(metadata.length));
  for (const [key, v] of metadata) {
    const { type, value } = unwrap(v);
    out.string(key);
    out.u32(type);
    writeValue(out, type, value);
  }

  let offset = 0;
  const offsets: number[] = [];
  for (const t of contents.tensors) {
    const expected = byteSize(t.type, t.dims.reduce((a, b) => a * b, 1));
    const given = dataLength(t.data);
    if (given !== expected) throw new Error(`tensor '${t.name}': ${given} bytes given, ${expected} expected`);
    offsets.push(offset);
    offset = Math.ceil((offset + given) / alignment) * alignment;
  }
  contents.tensors.forEach((t, i) => {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(BigInt(d));
    out.u32(t.type);
    out.u64(BigInt(offsets[i]!));
  });
  out.padTo(alignment);
  return { header: out.toBuffer(), layout: { alignment, offsets, dataBytes: offset } };
}

const dataLength = (d: Uint8Array | StreamedTensorData) => (d instanceof Uint8Array ? d.length : d.byteLength);

/** Hands `put` every tensor's bytes in file order, with the zero padding between and after them. */
function forEachTensorData(contents: GgufContents, layout: DataLayout, put: (b: Uint8Array) => void): void {
  let at = 0;
  const padTo = (target: number) => { if (target > at) put(new Uint8Array(target - at)); at = target; };
  contents.tensors.forEach((t, i) => {
    padTo(layout.offsets[i]!);
    if (t.data instanceof Uint8Array) { put(t.data); at += t.data.length; return; }
    let written = 0;
    for (const chunk of t.data.chunks()) { put(chunk); written += chunk.length; }
    if (written !== t.data.byteLength) throw new Error(`tensor '${t.name}': streamed ${written} bytes, ${t.data.byteLength} announced`);
    at += written;
  });
  padTo(layout.dataBytes);
}

function unwrap(v: GgufValue | TypedValue): TypedValue {
  if (typeof v === "object" && v !== null && "type" in v && "value" in v) return v;
  return { type: inferType(v), value: v };
}

/** strings → STRING, booleans → BOOL, integers → UINT32/INT32/INT64, other numbers → FLOAT32, bigints → INT64. */
export function inferType(v: GgufValue): GgufValueType {
  if (typeof v === "string") return GgufValueType.STRING;
  if (typeof v === "boolean") return GgufValueType.BOOL;
  if (typeof v === "bigint") return GgufValueType.INT64;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return GgufValueType.FLOAT32;
    if (v >= 0 && v <= 0xffffffff) return GgufValueType.UINT32;
    if (v >= -0x80000000 && v < 0x80000000) return GgufValueType.INT32;
    return GgufValueType.INT64;
  }
  return GgufValueType.ARRAY;
}

function writeValue(out: ByteSink, type: GgufValueType, value: GgufValue): void {
  switch (type) {
    case GgufValueType.UINT8: case GgufValueType.BOOL: return out.u8(Number(value));
    case GgufValueType.INT8: return out.i8(Number(value));
    case GgufValueType.UINT16: return out.u16(Number(value));
    case GgufValueType.INT16: return out.i16(Number(value));
    case GgufValueType.UINT32: return out.u32(Number(value));
    case GgufValueType.INT32: return out.i32(Number(value));
    case GgufValueType.FLOAT32: return out.f32(Number(value));
    case GgufValueType.FLOAT64: return out.f64(Number(value));
    case GgufValueType.UINT64: return out.u64(BigInt(value as number | bigint));
    case GgufValueType.INT64: return out.i64(BigInt(value as number | bigint));
    case GgufValueType.STRING: return out.string(String(value));
    case GgufValueType.ARRAY: {
      const arr = value as GgufArray;
      out.u32(arr.itemType);
      out.u64(BigInt(arr.items.length));
      for (let i = 0; i < arr.items.length; i++) writeValue(out, arr.itemType, arr.items[i] as GgufValue);
      return;
    }
  }
}

/** A growable little-endian byte buffer. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): Buffer {
    if (this.length + n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    return this.buf;
  }

  u8(v: number) { this.reserve(1).writeUInt8(v, this.length); this.length += 1; }
  i8(v: number) { this.reserve(1).writeInt8(v, this.length); this.length += 1; }
  u16(v: number) { this.reserve(2).writeUInt16LE(v, this.length); this.length += 2; }
  i16(v: number) { this.reserve(2).writeInt16LE(v, this.length); this.length += 2; }
  u32(v: number) { this.reserve(4).writeUInt32LE(v >>> 0, this.length); this.length += 4; }
  i32(v: number) { this.reserve(4).writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number) { this.reserve(4).writeFloatLE(v, this.length); this.length += 4; }
  f64(v: number) { this.reserve(8).writeDoubleLE(v, this.length); this.length += 8; }
  u64(v: bigint) { this.reserve(8).writeBigUInt64LE(v, this.length); this.length += 8; }
  i64(v: bigint) { this.reserve(8).writeBigInt64LE(v, this.length); this.length += 8; }
  string(s: string) {
    const b = Buffer.from(s, "utf8");
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  bytes(b: Uint8Array) { this.reserve(b.length).set(b, this.length); this.length += b.length; }
  /** Zero-pads up to the next multiple of `alignment`. */
  padTo(alignment: number) {
    const target = Math.ceil(this.length / alignment) * alignment;
    this.reserve(target - this.length).fill(0, this.length, target);
    this.length = target;
  }
  toBuffer(): Buffer { return this.buf.subarray(0, this.length); }
}
