import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { repoRoot } from "../helpers/paths.ts";

test("--version prints package.json's version and exits 0", async () => {
  const { version } = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
  const r = await runCli(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${version}\n`);
});
