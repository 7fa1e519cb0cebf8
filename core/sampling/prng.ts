/**
 * xoshiro128** (Blackman & Vigna): a small, fast PRNG with 128 bits of state. Each sampler owns one, so a
 * request's draws depend only on its own seed, never on what else is in the batch.
 */
export class Xoshiro128 {
  private readonly state = new Uint32Array(4);

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Seeds from any safe integer. The low and high 32-bit halves each fill two state words through splitmix32's
   *  bijective mixer, so different seeds always give different states, and nearby seeds unrelated streams. */
  seed(seed: number): void {
    const low = seed >>> 0;
    const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
    this.state[0] = mix32(low + 0x9e3779b9);
    this.state[1] = mix32(low + 0x3c6ef372);
    this.state[2] = mix32((high ^ 0x85ebca6b) + 0x9e3779b9);
    this.state[3] = mix32((high ^ 0x85ebca6b) + 0x3c6ef372);
    // The all-zero state is a fixed point of the generator.
    if ((this.state[0] | this.state[1] | this.state[2] | this.state[3]) === 0) this.state[0] = 1;
  }

  nextUint32(): number {
    const s = this.state;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (two draws), so tiny probabilities are still reachable. */
  nextDouble(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }
}

/** splitmix32's finaliser: a bijection on 32-bit integers. */
function mix32(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
