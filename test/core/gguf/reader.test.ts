import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { GgmlType, GgufError, type GgufArray, GgufValueType, encodeGguf, readGguf, writeGguf } from "../../../core/gguf/index.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-gguf-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (bytes: Uint8Array) => {
  const p = path.join(dir, `f${n++}.gguf`);
  writeFileSync(p, bytes);
  return p;
};

test("every metadata value type and arrays round-trip through the writer and reader", () => {
  const f32 = new Float32Array([1.5, -2.25, 3]);
  const p = path.join(dir, "roundtrip.gguf");
  writeGguf(p, {
    version: 3,
    metadata: [
      ["u8", { type: GgufValueType.UINT8, value: 255 }],
      ["i8", { type: GgufValueType.INT8, value: -128 }],
      ["u16", { type: GgufValueType.UINT16, value: 65535 }],
      ["i16", { type: GgufValueType.INT16, value: -32768 }],
      ["u32", { type: GgufValueType.UINT32, value: 4294967295 }],
      ["i32", { type: GgufValueType.INT32, value: -2147483648 }],
      ["f32", { type: GgufValueType.FLOAT32, value: 0.5 }],
      ["f64", { type: GgufValueType.FLOAT64, value: Math.PI }],
      ["u64", { type: GgufValueType.UINT64, value: 2n ** 60n }],
      ["i64", { type: GgufValueType.INT64, value: -5 }],
      ["bool", true],
      ["str", "héllo ✓"],
      ["strings", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.STRING, items: ["a", "", "ü"] } }],
      ["floats", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.FLOAT32, items: f32 } }],
      ["ints", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.INT32, items: new Int32Array([1, -2]) } }],
      ["general.alignment", { type: GgufValueType.UINT32, value: 64 }],
    ],
    tensors: [
      { name: "a", dims: [4, 2], type: GgmlType.F32, data: new Uint8Array(32).fill(1) },
      { name: "b", dims: [32], type: GgmlType.Q8_0, data: new Uint8Array(34).fill(2) },
    ],
  });
  const g = readGguf(p);
  const m = g.metadata;
  assert.equal(g.version, 3);
  assert.equal(m.get("u8"), 255);
  assert.equal(m.get("i8"), -128);
  assert.equal(m.get("u16"), 65535);
  assert.equal(m.get("i16"), -32768);
  assert.equal(m.get("u32"), 4294967295);
  assert.equal(m.get("i32"), -2147483648);
  assert.equal(m.get("f32"), 0.5);
  assert.equal(m.get("f64"), Math.PI);
  assert.equal(m.get("u64"), 2n ** 60n);
  assert.equal(m.get("i64"), -5);
  assert.equal(m.get("bool"), true);
  assert.equal(m.get("str"), "héllo ✓");
  assert.deepEqual(Array.from((m.get("strings") as GgufArray).items), ["a", "", "ü"]);
  assert.deepEqual(Array.from((m.get("floats") as GgufArray).items), [1.5, -2.25, 3]);
  assert.deepEqual(Array.from((m.get("ints") as GgufArray).items), [1, -2]);
  assert.equal(g.alignment, 64);
  assert.equal(g.dataOffset % 64, 0);
  assert.deepEqual(g.tensors.map((t) => [t.name, t.dims, t.type, t.offset, t.nBytes]), [
    ["a", [4, 2], GgmlType.F32, 0, 32],
    ["b", [32], GgmlType.Q8_0, 64, 34],
  ]);
});

test("version 2 files are read", () => {
  const bytes = encodeGguf({ version: 2, metadata: [["k", "v"]], tensors: [] });
  assert.equal(readGguf(file(bytes)).version, 2);
});

test("the shared models parse, with tensors inside their files", { skip: false }, () => {
  // Covered with real files by the model tests; here a plain writer-made file with many tensors.
  const tensors = Array.from({ length: 50 }, (_, i) => ({ name: `t${i}`, dims: [8, i + 1], type: GgmlType.F16, data: new Uint8Array(16 * (i + 1)) }));
  const g = readGguf(file(encodeGguf({ metadata: [], tensors })));
  assert.equal(g.tensors.length, 50);
  for (const t of g.tensors) assert.ok(g.dataOffset + t.offset + t.nBytes <= g.fileSize);
});

/** A small valid file and the byte positions of its fields, so corruptions can aim at them. */
function baseFile(): Buffer {
  return encodeGguf({
    metadata: [["general.architecture", "llama"], ["list", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.STRING, items: ["x", "y"] } }]],
    tensors: [
      { name: "w1", dims: [32, 2], type: GgmlType.F32, data: new Uint8Array(256) },
      { name: "w2", dims: [32], type: GgmlType.Q8_0, data: new Uint8Array(34) },
    ],
  });
}

function at(buf: Buffer, needle: string): number {
  const i = buf.indexOf(Buffer.from(needle));
  assert.ok(i >= 0, needle);
  return i;
}

/** Each corruption and a fragment of the error it must produce. */
const corruptions: [string, (b: Buffer) => Buffer, RegExp][] = [
  ["empty file", () => Buffer.alloc(0), /magic.*needs 4 bytes/],
  ["bad magic", (b) => (b.write("GGUX", 0), b), /bad magic/],
  ["version 1", (b) => (b.writeUInt32LE(1, 4), b), /unsupported GGUF version 1/],
  ["version 99", (b) => (b.writeUInt32LE(99, 4), b), /unsupported GGUF version 99/],
  ["tensor count beyond the file", (b) => (b.writeBigUInt64LE(1n << 40n, 8), b), /tensor count/],
  ["metadata count beyond the file", (b) => (b.writeBigUInt64LE(1n << 50n, 16), b), /metadata count/],
  ["truncated header", (b) => b.subarray(0, 120), /file ends/],
  ["key length beyond the file", (b) => (b.writeBigUInt64LE(1n << 33n, 24), b), /length of metadata key/],
  ["unknown value type", (b) => (b.writeUInt32LE(77, at(b, "general.architecture") + 20), b), /unknown value type 77/],
  ["string value length beyond the file", (b) => (b.writeBigUInt64LE(1n << 32n, at(b, "general.architecture") + 24), b), /length of general.architecture/],
  ["array of arrays", (b) => (b.writeUInt32LE(GgufValueType.ARRAY, at(b, "list") + 8), b), /array of arrays/],
  ["unknown array item type", (b) => (b.writeUInt32LE(55, at(b, "list") + 8), b), /unknown array type 55/],
  ["array length beyond the file", (b) => (b.writeBigUInt64LE(1n << 40n, at(b, "list") + 12), b), /length of array 'list'/],
  ["string array item length beyond the file", (b) => (b.writeBigUInt64LE(1n << 32n, at(b, "list") + 20), b), /length of list\[0\] is 4294967296, more than the file can hold/],
  ["string array item cut off", (b) => b.subarray(0, at(b, "list") + 28), /length of list\[0\] is 1, more than the file can hold \(0\)/],
  ["bool that is not 0 or 1", () => encodeGguf({ metadata: [["flag", { type: GgufValueType.UINT8, value: 7 }]], tensors: [] }).fill(GgufValueType.BOOL, 36, 37), /bool with value 7/],
  ["zero dimensions", (b) => (b.writeUInt32LE(0, at(b, "w1") + 2), b), /0 dimensions/],
  ["five dimensions", (b) => (b.writeUInt32LE(5, at(b, "w1") + 2), b), /5 dimensions/],
  ["a zero-sized dimension", (b) => (b.writeBigUInt64LE(0n, at(b, "w1") + 6), b), /zero dimension/],
  ["unknown tensor type", (b) => (b.writeUInt32LE(99, at(b, "w1") + 22), b), /unsupported type unknown\(99\)/],
  ["row length not a whole number of blocks", (b) => (b.writeBigUInt64LE(33n, at(b, "w2") + 6), b), /not a multiple of the Q8_0 block/],
  ["tensor offset outside the data section", (b) => (b.writeBigUInt64LE(1n << 20n, at(b, "w2") + 18), b), /outside the data section/],
  ["tensor offset not aligned", (b) => (b.writeBigUInt64LE(260n, at(b, "w2") + 18), b), /not aligned/],
  ["overlapping tensors", (b) => (b.writeBigUInt64LE(0n, at(b, "w2") + 18), b), /overlap/],
  ["tensor data cut off", (b) => b.subarray(0, b.length - 40), /outside the data section/],
  ["alignment that is not a power of two", () => encodeGguf({ metadata: [["general.alignment", { type: GgufValueType.UINT32, value: 48 }]], tensors: [] }), /power of two/],
  ["duplicate metadata key", () => encodeGguf({ metadata: [["a", 1], ["a", 2]], tensors: [] }), /duplicate metadata key 'a'/],
  ["duplicate tensor name", (b) => (b.write("w1", at(b, "w2")), b), /duplicate tensor 'w1'/],
];

for (const [name, corrupt, message] of corruptions) {
  test(`malformed file: ${name} gives a clear GgufError`, () => {
    const p = file(corrupt(Buffer.from(baseFile())));
    assert.throws(() => readGguf(p), (e: unknown) => {
      assert.ok(e instanceof GgufError, `expected GgufError, got ${String(e)}`);
      assert.match(e.message, message);
      assert.ok(e.message.startsWith(p), "the message names the file");
      return true;
    });
  });
}

test("a missing file is a clear GgufError", () => {
  assert.throws(() => readGguf(path.join(dir, "nope.gguf")), /nope\.gguf: cannot open/);
});
