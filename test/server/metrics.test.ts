import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Engine } from "../../core/engine.ts";
import { GgufValueType } from "../../core/gguf/index.ts";
import { ServerMetrics } from "../../server/metrics.ts";
import { noShared } from "../helpers/index.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-metrics-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function value(text: string, name: string, state: string): number {
  const m = text.match(new RegExp(`^${name}\\{model="m",state="${state}"\\} (\\S+)$`, "m"));
  assert.ok(m, `${name}{state="${state}"} in the scrape`);
  return Number(m[1]);
}

test("a model with sliding-window layers reports its window blocks and the K/V bytes held", { skip: noShared }, async () => {
  const file = path.join(dir, "gemma3.gguf");
  writeSyntheticModel(file, {
    architecture: "gemma3", nEmbd: 128, nLayer: 2, nHead: 2, nHeadKv: 1, headDim: 64, nFf: 256, seed: 3,
    extraMetadata: [
      ["gemma3.attention.sliding_window", { type: GgufValueType.UINT32, value: 16 }],
      ["gemma3.attention.sliding_window_pattern", { type: GgufValueType.UINT32, value: 2 }],
    ],
  });
  const engine = await Engine.load({ model: file, threads: 1, contextSize: 256 });
  const metrics = new ServerMetrics();
  metrics.watch("m", engine);
  try {
    let busy = "";
    engine.onStep(() => void metrics.registry.metrics().then((t) => (busy ||= t)));
    await engine.generate([1, 5, 6, 7], { temperature: 0, ignoreEos: true, maxTokens: 60 });
    await new Promise((r) => setTimeout(r, 10));
    const text = await metrics.registry.metrics();
    const total = engine.stats().windowBlocks!.total;
    assert.equal(value(text, "infer_repl_kv_window_blocks", "total"), total);
    assert.equal(value(text, "infer_repl_kv_window_blocks", "free"), total);
    assert.equal(value(text, "infer_repl_kv_window_blocks", "used"), 0);
    assert.ok(value(busy, "infer_repl_kv_window_blocks", "used") > 0);
    assert.match(text, /^infer_repl_kv_used_bytes\{model="m"\} 0$/m);
  } finally {
    engine.close();
  }
});
