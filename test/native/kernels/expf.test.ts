import assert from "node:assert/strict";
import { test } from "node:test";
import { nativeKernels as k } from "../../../core/native-kernels.ts";

// The attention's softmax weighs positions with a vectorized expf that must equal the C library's bit for bit
// (llama.cpp calls expf there). The vector path computes x in [-104, -0]; every float in that range is checked.
const NEG_ZERO = 0x80000000, NEG_104 = 0xc2d00000, NEG_INF = 0xff800000;

test("vectorized expf equals the C library's expf for every float from -0 down to -104", () => {
  const r = k.expfMismatches(NEG_ZERO, NEG_104 - NEG_ZERO + 1);
  assert.equal(r.mismatches, 0, `first mismatch at bits 0x${r.firstMismatchBits?.toString(16)}`);
  // The load-time sample check silently falls back to expf per element when the vector path disagrees: on an
  // AVX-512 machine with glibc, falling back means the vector path broke.
  if (k.cpuFeatures().avx512f) assert.ok(r.vectorized, "the vector path failed its load-time check and is off");
  else console.log("# this CPU has no AVX-512: the scalar expf path was checked");
});

test("vectorized expf matches outside its domain too: underflow, -Infinity, NaN, positive arguments", () => {
  for (const [first, count] of [
    [NEG_104, 1 << 22], // just below -104: expf underflows to 0
    [NEG_INF - 1000, 1001], // the most negative finite floats and -Infinity
    [NEG_INF + 1, 5000], // negative NaNs
    [0, 1 << 20], // +0 and tiny positives
    [0x42b00000, 1 << 20], // positive arguments near overflow (88.0 and up)
  ] as const) {
    const r = k.expfMismatches(first, count);
    assert.equal(r.mismatches, 0, `range from 0x${first.toString(16)}: first mismatch at bits 0x${r.firstMismatchBits?.toString(16)}`);
  }
});

test("expfMismatches rejects ranges outside the 2^32 bit patterns", () => {
  assert.throws(() => k.expfMismatches(-1, 1), /firstBits/);
  assert.throws(() => k.expfMismatches(0xffffffff, 2), /within the 2\^32/);
});
