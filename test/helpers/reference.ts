import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { sharedDir } from "./paths.ts";

export interface GreedyReference {
  model: string;
  prompt: string;
  promptTokens: number[];
  top10Logits: [number, number][];
  greedyTokens: number[];
  greedyText: string;
}

/** ../shared/reference/llama-cpp-greedy.json: llama.cpp's greedy continuations and top logits. */
export function greedyReferences(): GreedyReference[] {
  const file = path.join(sharedDir, "reference/llama-cpp-greedy.json");
  if (!existsSync(file)) return [];
  return (JSON.parse(readFileSync(file, "utf8")) as { results: GreedyReference[] }).results;
}
