import assert from "node:assert/strict";
import { test } from "node:test";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";

// swiglu's values must be llama.cpp-zen4's (ggml_vec_swiglu_f32 with AVX-512: ggml_v_silu on runs of 16, libm's
// expf on the rest) on every kernel variant: SiLU feeds the FFN's 8-bit quantizer, whose rounding flips on 1-ulp
// differences. ggml's AVX2 form of the exp polynomial gave another last bit for ~28% of inputs.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float next to r (a float) in the direction of `toward`. */
function nextFloat(r: number, toward: number): number {
  if (r === 0) return Math.fround(toward > 0 ? 2 ** -149 : -(2 ** -149));
  f32[0] = r;
  u32[0]! += (toward > r) === (r > 0) ? 1 : -1;
  return f32[0]!;
}

/** fmaf(a, b, c) for floats, one rounding: a·b is exact in double; TwoSum keeps what the double sum dropped. */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b, s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const bb = s - p, err = (p - (s - bb)) + (c - bb);
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  // s + err rounds as s does unless s sits exactly halfway between r and its neighbour: err then decides.
  const other = nextFloat(r, s);
  if ((r + other) / 2 !== s) return r;
  return (err > 0) === (other > r) ? other : r;
}

/** A C hex float literal's value as a float ("0x1.8p23"). */
function hexf(lit: string): number {
  const m = /^0x([0-9a-f]+)\.([0-9a-f]*)p([+-]?\d+)$/i.exec(lit)!;
  return Math.fround(parseInt(m[1]! + m[2]!, 16) * 2 ** (Number(m[3]) - 4 * m[2]!.length));
}

/** ggml_v_expf's AVX-512 form (native/kernels/expf_ggml.h), one lane. */
function expfZen4(x: number): number {
  const shift = hexf("0x1.8p23");
  const z = fmaf(x, hexf("0x1.715476p+0"), shift);
  const n = Math.fround(z - shift);
  const b = fmaf(-n, hexf("0x1.7f7d1cp-20"), fmaf(-n, hexf("0x1.62e4p-1"), x));
  const u = Math.fround(b * b);
  const hi = fmaf(hexf("0x1.0e4020p-7"), b, hexf("0x1.573e2ep-5"));
  const mid = fmaf(hexf("0x1.555e66p-3"), b, hexf("0x1.fffdb6p-2"));
  const lo = fmaf(hexf("0x1.ffffecp-1"), b, 1);
  const poly = fmaf(fmaf(hi, u, mid), u, lo);
  if (Math.abs(n) > 192) return n <= 0 ? 0 : Infinity;
  return Math.fround(poly * 2 ** n);
}

const swigluZen4 = (g: number, u: number) => Math.fround(Math.fround(g / Math.fround(1 + expfZen4(Math.fround(0 - g)))) * u);

test("the exact float fma model rounds once (cases where a double sum rounded again would not)", () => {
  // 1 + 2^-24 + 2^-60: the double sum drops 2^-60 and lands halfway between floats; the exact value rounds up.
  assert.equal(fmaf(1 + 2 ** -24, 1, 2 ** -60), Math.fround(1 + 2 ** -23));
  assert.equal(fmaf(1 + 2 ** -24, 1, -(2 ** -60)), 1);
  assert.equal(fmaf(3, 5, 7), 22);
});

test(`swiglu equals llama.cpp-zen4's ggml_v_silu bit for bit on whole runs of 16 (variant ${k.cpuFeatures().variants.at(-1)})`, () => {
  const rand = prng(71);
  const n = 16 * 4096 + 5;
  const g = new Float32Array(n), u = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Mostly the FFN's range; some far out, where exp leaves the normal floats (|n| > 126) or saturates (> 192).
    const r = rand();
    g[i] = r < 0.9 ? (rand() - 0.5) * 16 : r < 0.97 ? (rand() - 0.5) * 200 : (rand() - 0.5) * 400;
    u[i] = (rand() - 0.5) * 4;
  }
  g[0] = 0; g[1] = -0; g[2] = 87.5; g[3] = -87.5; g[4] = -103.9; g[5] = 150;
  const y = k.swiglu(g, u);
  const whole = n - (n % 16);
  let differs = 0;
  for (let i = 0; i < whole; i++) {
    const want = swigluZen4(g[i]!, u[i]!);
    if (!Object.is(y[i], want)) {
      if (differs++ < 5) console.log(`i ${i} gate ${g[i]} up ${u[i]}: ${y[i]} vs zen4 ${want}`);
    }
  }
  assert.equal(differs, 0, `${differs} of ${whole} values differ from the AVX-512 form`);
  for (let i = whole; i < n; i++) {
    const want = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
    assert.ok(Math.abs(y[i]! - want) <= 1e-6 * Math.abs(want) + 1e-30, `tail ${i}: ${y[i]} vs ${want}`);
  }
});
