import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { extraModelDirs, modelCacheDir } from "../../../core/models/cache.ts";

test("Linux follows XDG, ignoring a relative XDG_CACHE_HOME", () => {
  assert.equal(modelCacheDir({}, "linux", "/home/u"), "/home/u/.cache/infer-repl/models");
  assert.equal(modelCacheDir({ XDG_CACHE_HOME: "/xdg" }, "linux", "/home/u"), "/xdg/infer-repl/models");
  assert.equal(modelCacheDir({ XDG_CACHE_HOME: "rel" }, "linux", "/home/u"), "/home/u/.cache/infer-repl/models");
});

test("macOS uses ~/Library/Caches", () => {
  assert.equal(modelCacheDir({ XDG_CACHE_HOME: "/xdg" }, "darwin", "/Users/u"), "/Users/u/Library/Caches/infer-repl/models");
});

test("Windows uses %LOCALAPPDATA%", () => {
  assert.equal(modelCacheDir({ LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" }, "win32", "C:\\Users\\u"),
    "C:\\Users\\u\\AppData\\Local\\infer-repl\\models");
  assert.equal(modelCacheDir({}, "win32", "C:\\Users\\u"), "C:\\Users\\u\\AppData\\Local\\infer-repl\\models");
});

test("INFER_REPL_CACHE overrides every platform", () => {
  for (const platform of ["linux", "darwin"] as const) {
    assert.equal(modelCacheDir({ INFER_REPL_CACHE: "/tmp/c", XDG_CACHE_HOME: "/xdg" }, platform, "/home/u"), "/tmp/c");
  }
});

test("INFER_REPL_MODELS is a PATH-style list", () => {
  assert.deepEqual(extraModelDirs({ INFER_REPL_MODELS: ["/a", "", "/b"].join(path.delimiter) }), ["/a", "/b"]);
  assert.deepEqual(extraModelDirs({}), []);
});
