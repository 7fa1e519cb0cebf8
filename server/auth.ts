import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Checks `Authorization: Bearer KEY` against the configured keys in constant time: every key is compared, each
 * as a SHA-256 digest (equal lengths, so timingSafeEqual applies and a key's length does not leak).
 * With no keys configured every request passes.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get required(): boolean {
    return this.digests.length > 0;
  }

  allows(authorization: string | undefined): boolean {
    if (!this.required) return true;
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    if (!match) return false;
    const given = digest(match[1]!.trim());
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}
