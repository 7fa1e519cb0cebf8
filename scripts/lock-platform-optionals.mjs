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
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
console.log(added, "added");
