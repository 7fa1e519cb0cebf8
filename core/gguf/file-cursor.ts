import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { GgufError } from "./errors.ts";

const CHUNK = 1 << 20;

/**
 * Sequential little-endian reads from a file descriptor, fetched in chunks, every read checked against the
 * file's size. Only the header is read this way: tensor data is never pulled into the JS heap.
 */
export class FileCursor {
  readonly fileSize: number;
  private readonly fd: number;
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, "r");
    } catch (e) {
      throw new GgufError(path, `cannot open: ${(e as Error).message}`);
    }
    this.fileSize = fstatSync(this.fd).size;
  }

  close(): void {
    closeSync(this.fd);
  }

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  fail(what: string): never {
    throw new GgufError(this.path, `${what} (at byte ${this.pos})`);
  }

  /** Returns a view of the next n bytes and advances; valid until the next call. */
  take(n: number, what: string): Buffer {
    const start = this.ensure(n, () => what);
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  /**
   * A string array's n items. The same checks as n calls of string(), without what makes those slow for a
   * vocabulary of 32,000+ tokens: two labels, two views and a BigInt per item (labels are made only to fail).
   */
  strings(n: number, what: string): string[] {
    const items = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      let at = this.ensure(8, () => `length of ${what}[${i}]`);
      const len = this.buf.readUInt32LE(at + 4) * 2 ** 32 + this.buf.readUInt32LE(at);
      if (len > this.remaining - 8) {
        this.pos += 8;
        this.fail(`length of ${what}[${i}] is ${this.buf.readBigUInt64LE(at)}, more than the file can hold (${this.remaining})`);
      }
      this.pos += 8;
      at = this.ensure(len, () => `${what}[${i}]`);
      items[i] = this.buf.toString("utf8", at, at + len);
      this.pos += len;
    }
    return items;
  }

  /** Makes the next n bytes readable in `buf` (reading a new chunk when needed); returns their offset there. */
  private ensure(n: number, what: () => string): number {
    if (n > this.remaining) this.fail(`${what()} needs ${n} bytes but the file ends ${this.remaining} bytes later`);
    const rel = this.pos - this.bufStart;
    if (rel < 0 || rel + n > this.buf.length) {
      const size = Math.min(Math.max(n, CHUNK), this.remaining);
      const fresh = Buffer.allocUnsafe(size);
      const got = readSync(this.fd, fresh, 0, size, this.pos);
      if (got !== size) this.fail(`short read of ${what()}`);
      this.buf = fresh;
      this.bufStart = this.pos;
    }
    return this.pos - this.bufStart;
  }

  u8(what: string): number { return this.take(1, what).readUInt8(0); }
  i8(what: string): number { return this.take(1, what).readInt8(0); }
  u16(what: string): number { return this.take(2, what).readUInt16LE(0); }
  i16(what: string): number { return this.take(2, what).readInt16LE(0); }
  u32(what: string): number { return this.take(4, what).readUInt32LE(0); }
  i32(what: string): number { return this.take(4, what).readInt32LE(0); }
  f32(what: string): number { return this.take(4, what).readFloatLE(0); }
  f64(what: string): number { return this.take(8, what).readDoubleLE(0); }
  u64(what: string): bigint { return this.take(8, what).readBigUInt64LE(0); }
  i64(what: string): bigint { return this.take(8, what).readBigInt64LE(0); }

  /** A uint64 count or size that must fit a JS number and at most `limit`. */
  count(what: string, limit: number): number {
    const v = this.u64(what);
    if (v > BigInt(limit)) this.fail(`${what} is ${v}, more than the file can hold (${limit})`);
    return Number(v);
  }

  string(what: string): string {
    const len = this.count(`length of ${what}`, this.remaining);
    return this.take(len, what).toString("utf8");
  }
}
