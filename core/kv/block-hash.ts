/**
 * Key of one full KV block for the prefix cache: a 53-bit hash of the key of the block before it (so equal
 * keys mean equal whole prefixes, with overwhelming probability) and of the block's own token ids. Two
 * independent 32-bit murmur-style lanes make up the 53 bits.
 */
export function blockHash(parent: number, tokens: readonly number[], start: number, count: number): number {
  let h1 = (parent % 0x100000000) ^ 0x9e3779b9;
  let h2 = Math.floor(parent / 0x100000000) ^ 0x85ebca6b;
  for (let i = 0; i < count; i++) {
    const t = tokens[start + i]! | 0;
    h1 = Math.imul(rotl(h1 ^ mix(t), 13), 5) + 0xe6546b64;
    h2 = Math.imul(rotl(h2 ^ mix(t ^ 0x27d4eb2f), 17), 9) + 0x165667b1;
  }
  h1 = fmix(h1 ^ count);
  h2 = fmix(h2 ^ h1);
  return (h2 & 0x1fffff) * 0x100000000 + (h1 >>> 0);
}

function mix(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  return Math.imul(rotl(k, 15), 0x1b873593);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
