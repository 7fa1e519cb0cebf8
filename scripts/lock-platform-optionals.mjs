// usage: node scripts/lock-platform-optionals.mjs   (after any dependency change, before committing the lock)
// Adds lock records for platform-specific optional packages that npm left out (it cannot see them in this
// registry), so `npm ci`'s lock validation passes; they are never fetched on a platform they do not match.
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const pkgs = lock.packages;
const platform = (name) => {
  const os = ["darwin", "linux", "win32", "win", "mac"].find((o) => name.includes(`-${o}-`) || name.includes(`/${o}-`));
  const cpu = ["arm64", "armv7l", "arm", "x64", "riscv64"].find((c) => name.includes(`-${c}`));
  const osName = { win: "win32", mac: "darwin" }[os] ?? os;
  return { os: osName ? [osName] : undefined, cpu: cpu === "armv7l" ? ["arm"] : cpu ? [cpu] : undefined };
};
let added = 0;
for (const [key, entry] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const path = `node_modules/${name}`;
    if (pkgs[path] || pkgs[`${key}/node_modules/${name}`]) continue;
    let rec;
    try {
      const info = JSON.parse(execFileSync("npm", ["view", `${name}@${version}`, "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
      rec = { version: info.version, integrity: info.dist.integrity, cpu: info.cpu, os: info.os, license: info.license };
    } catch {
      const { os, cpu } = platform(name);
      rec = { version, cpu, os };
    }
    if (entry.dev) rec.dev = true;
    rec.optional = true;
    pkgs[path] = Object.fromEntries(Object.entries(rec).filter(([, v]) => v !== undefined));
    added++;
    console.log("added", path, JSON.stringify(pkgs[path]));
  }
}
// Written as npm writes it (json-stringify-nice with npm's preferred keys), so the next `npm install` rewrites
// nothing: keys in insertion order made `npm install` reorder the added records and leave git dirty.
const NPM_KEY_ORDER = ["name", "version", "lockfileVersion", "resolved", "integrity", "requires", "packages", "dependencies"];
const isObject = (v) => !!v && typeof v === "object" && !Array.isArray(v);
const keyRank = (k) => (NPM_KEY_ORDER.includes(k) ? NPM_KEY_ORDER.indexOf(k) : NPM_KEY_ORDER.length);
const npmOrder = (_key, value) => {
  if (!isObject(value)) return value;
  const entries = Object.entries(value).sort(([a, av], [b, bv]) =>
    isObject(av) !== isObject(bv) ? (isObject(av) ? 1 : -1) : keyRank(a) - keyRank(b) || (keyRank(a) === NPM_KEY_ORDER.length ? a.localeCompare(b, "en") : 0));
  return Object.fromEntries(entries);
};
writeFileSync("package-lock.json", JSON.stringify(lock, npmOrder, 2) + "\n");
console.log(added, "added");
