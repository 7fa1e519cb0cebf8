// Float32 arithmetic for JS models of the kernels' operation orders: each helper rounds exactly as the one float
// instruction it stands for (a double +, -, ×, ÷ of floats rounded to float is that float operation; fma is not).

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
export function fmaf(a: number, b: number, c: number): number {
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
export function hexf(lit: string): number {
  const m = /^0x([0-9a-f]+)\.([0-9a-f]*)p([+-]?\d+)$/i.exec(lit)!;
  return Math.fround(parseInt(m[1]! + m[2]!, 16) * 2 ** (Number(m[3]) - 4 * m[2]!.length));
}

/** An IEEE half's value. */
export function f16(bits: number): number {
  const e = (bits >> 10) & 31, f = bits & 1023, sign = bits & 0x8000 ? -1 : 1;
  return sign * (e === 0 ? f * 2 ** -24 : (1 + f / 1024) * 2 ** (e - 15));
}

/** hsum of 8 float lanes as the kernels (and llama.cpp's hsum_float_8) reduce them: ((0+4)+(2+6)) + ((1+5)+(3+7)). */
export function hsum8(v: readonly number[]): number {
  const s = (a: number, b: number) => Math.fround(a + b);
  return s(s(s(v[0]!, v[4]!), s(v[2]!, v[6]!)), s(s(v[1]!, v[5]!), s(v[3]!, v[7]!)));
}
