import assert from "node:assert/strict";
import { test } from "node:test";
import { native } from "../../../core/native.ts";

// The batch arithmetic's attention weighs a tile's positions with ggml's vectorized expf (ggml_v_expf); the vector
// paths (AVX-512's 16 lanes, AVX's 8, whichever this CPU runs: INFER_REPL_KERNELS=avx2 caps it to AVX) must give its
// one-lane reference's bits. The AVX path computes 2^n·p as a product where 2^n is a normal float and hands the
// vector to the lane function otherwise, so the ranges cover both sides of those bounds (exponent arguments about
// ±87, -126·ln 2 and 127·ln 2), the softmax's usual arguments (-0 down to -20), and -inf, NaN and huge values.
const RANGES: [number, number][] = [
  [0x80000000, 1 << 22], // -0 and the tiniest negatives
  [0xbf800000, 1 << 22], // about -1
  [0xc1a00000, 1 << 21], // -20 and below
  [0xc2ae0000, 1 << 20], // about -87 (2^-126 after the rounding) down to -104
  [0xc2ce0000, 1 << 18], // about -103 .. -110: the lane's own limit at n = -192 and below
  [0x42ae0000, 1 << 20], // about +87 .. +88.7: 2^127 and overflow
  [0xff800000, 5000], // -inf and negative NaNs
  [0x7f7f0000, 1 << 16], // the largest finite positives
];

test("the batch attention's vectorized expf gives its one-lane reference's bits", (t) => {
  if (!native.batchExpfMismatches) return t.skip("addon without batchExpfMismatches");
  for (const [first, count] of RANGES) {
    const r = native.batchExpfMismatches(first, count);
    assert.equal(r.mismatches, 0, `range from 0x${first.toString(16)}: first mismatch at bits 0x${r.firstMismatchBits.toString(16)}`);
  }
});
