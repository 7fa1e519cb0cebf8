// A deliberately plain reference of the sampler chain for tests: full sorts and a transcription of llama.cpp's
// samplers (penalties, top_k, typical, top_p, min_p, temp), no pre-filters, no scratch reuse.
import { DEFAULT_SAMPLING, type SamplingOptions } from "../../../core/sampling/index.ts";

interface Candidate {
  id: number;
  logit: number;
}

function maxOf(values: number[]): number {
  return values.reduce((a, b) => (b > a ? b : a), -Infinity);
}

function softmax(c: Candidate[]): number[] {
  const max = maxOf(c.map((x) => x.logit));
  const w = c.map((x) => Math.exp(x.logit - max));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** The logits after logit bias and penalties, rounded to float32 as the sampler stores them. */
export function referenceAdjustedLogits(logits: ArrayLike<number>, options: SamplingOptions, history: number[]): number[] {
  const o = { ...DEFAULT_SAMPLING, ...options };
  const out = Array.from(logits, (l) => l);
  for (const [id, b] of Object.entries(o.logitBias ?? {})) out[Number(id)] = Math.fround(out[Number(id)] + b);
  const active = o.repeatLastN > 0 && (o.repeatPenalty !== 1 || o.presencePenalty !== 0 || o.frequencyPenalty !== 0);
  if (active) {
    const counts = new Map<number, number>();
    for (const t of history.slice(-o.repeatLastN)) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [t, n] of counts) {
      let l = out[t];
      l = l <= 0 ? Math.fround(l * o.repeatPenalty) : Math.fround(l / o.repeatPenalty);
      out[t] = Math.fround(l - (n * o.frequencyPenalty + o.presencePenalty));
    }
  }
  return out;
}

export function referenceDistribution(logits: ArrayLike<number>, options: SamplingOptions, history: number[] = []): Float64Array {
  const o = { ...DEFAULT_SAMPLING, ...options };
  const adjusted = referenceAdjustedLogits(logits, options, history);
  const result = new Float64Array(adjusted.length);
  if (o.temperature === 0) {
    result[adjusted.indexOf(maxOf(adjusted))] = 1;
    return result;
  }
  let c: Candidate[] = adjusted.map((logit, id) => ({ id, logit })).filter((x) => x.logit > -Infinity);
  c.sort((a, b) => b.logit - a.logit);
  if (o.topK > 0) c = c.slice(0, o.topK);
  if (o.typicalP < 1) {
    const p = softmax(c);
    const entropy = -p.reduce((s, pi) => s + pi * Math.log(pi), 0);
    const order = c.map((_, i) => i).sort((a, b) => Math.abs(-Math.log(p[a]) - entropy) - Math.abs(-Math.log(p[b]) - entropy));
    let cum = 0;
    let keep = order.length;
    for (let i = 0; i < order.length; i++) {
      cum += p[order[i]];
      if (cum > o.typicalP) {
        keep = i + 1;
        break;
      }
    }
    c = order.slice(0, keep).map((i) => c[i]);
    c.sort((a, b) => b.logit - a.logit);
  }
  if (o.topP < 1) {
    const p = softmax(c);
    let cum = 0;
    for (let i = 0; i < c.length; i++) {
      cum += p[i];
      if (cum >= o.topP) {
        c = c.slice(0, i + 1);
        break;
      }
    }
  }
  if (o.minP > 0) {
    const threshold = c[0].logit + Math.log(o.minP);
    c = c.filter((x) => x.logit >= threshold);
  }
  const p = softmax(c.map((x) => ({ id: x.id, logit: x.logit / o.temperature })));
  c.forEach((x, i) => (result[x.id] = p[i]));
  return result;
}
