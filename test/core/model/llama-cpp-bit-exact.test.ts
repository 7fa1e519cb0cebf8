import assert from "node:assert/strict";
import { test } from "node:test";
import { noShared, sharedModel } from "../../helpers/index.ts";
import { llamaCppStepLogits, oracleArithmeticDiffers } from "../../helpers/llama-cpp.ts";
import { greedyReferences } from "../../helpers/reference.ts";
import { ourStepLogits } from "../../helpers/step-logits.ts";

// The prompt whose f16 continuation hinges on a 1e-5 relative near-tie at generated token 57 (issue 2): only
// bit-identical logits reproduce llama.cpp's choice there. llama.cpp here is node-llama-cpp's prebuilt CPU
// library for this machine kind (AVX-512, the zen4 variant), whose arithmetic the native kernels mirror on every CPU;
// on a CPU where node-llama-cpp loads another build, the stored reference checks the same (greedy-reference.test.ts).
const PROMPT = "Lily and Ben went to the park. They saw a big";

for (const file of ["stories15M-f16.gguf", "stories15M-f32.gguf"]) {
  test(`${file}: logits after the prompt and each of 58 generated tokens are bit-identical to llama.cpp's`, { skip: noShared }, async (t) => {
    const differs = await oracleArithmeticDiffers();
    if (differs) return t.skip(differs);
    const ref = greedyReferences().find((r) => r.model === file && r.prompt === PROMPT);
    assert.ok(ref, `no reference entry for ${file}`);
    const continuation = ref.greedyTokens.slice(0, 58);
    const want = await llamaCppStepLogits(sharedModel(file), ref.promptTokens, continuation);
    const got = await ourStepLogits(sharedModel(file), ref.promptTokens, continuation);
    for (let step = 0; step < want.length; step++) {
      let differ = 0, worst = 0;
      for (const [id, v] of want[step]!) {
        if (got[step]![id] !== v) differ++;
        worst = Math.max(worst, Math.abs(got[step]![id]! - v));
      }
      assert.equal(differ, 0, `step ${step}: ${differ} logits differ from llama.cpp's (largest by ${worst.toExponential(2)})`);
    }
  });
}
