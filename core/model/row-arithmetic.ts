/**
 * Per-token arithmetic flags of the "prompt" arithmetic (StepBatch::row_arithmetic, native/model/transformer.h):
 * which of llama.cpp's paths computes each token of a prompt that llama.cpp evaluates as one batch. It splits the
 * batch into ubatches of n_ubatch (512) tokens; a ubatch of 4+ rows goes through its repacked kernels' batched
 * order (ggml_gemm_*) but for the last (rows % 4), which take the single-row kernel (ggml_gemv_*), a ubatch of
 * 64+ rows through its tiled flash attention, and every row of a ubatch of 2+ rows through tinyBLAS in F32/F16/BF16
 * matmuls (a lone row: ggml_vec_dot). A token's flags depend only on its index and the prompt's length.
 */
export const ROW_GEMM_ORDER = 1;
export const ROW_TILED_ATTENTION = 2;
export const ROW_FLOAT_BATCH = 8;
/** llama.cpp's default n_ubatch (llama-completion, llama-server; node-llama-cpp's default batch size). */
export const LLAMA_CPP_UBATCH = 512;

export function promptRowArithmetic(promptLength: number): Uint8Array {
  const flags = new Uint8Array(promptLength);
  for (let start = 0; start < promptLength; start += LLAMA_CPP_UBATCH) {
    const size = Math.min(LLAMA_CPP_UBATCH, promptLength - start), batched = size - (size % 4);
    const shared = (size >= 64 ? ROW_TILED_ATTENTION : 0) | (size >= 2 ? ROW_FLOAT_BATCH : 0);
    for (let i = 0; i < size; i++) flags[start + i] = (i < batched ? ROW_GEMM_ORDER : 0) | shared;
  }
  return flags;
}
