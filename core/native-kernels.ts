import { native } from "./native.ts";

/** Kernel variants: the scalar reference and the SIMD paths the addon was built with. */
/** "amx": the avx512 kernels with Q4_K batches on AMX-INT8 tiles (native/kernels/tile_q4k_amx.cc), same bits. */
export type KernelVariant = "scalar" | "avx2" | "avx512" | "amx";

export interface KernelCpuFeatures {
  avx2: boolean; fma: boolean; f16c: boolean;
  avx512f: boolean; avx512bw: boolean; avx512vl: boolean; avx512vnni: boolean; avx512bf16: boolean;
  /** AMX-INT8 usable: the CPU has it, Linux granted the tile state, and INFER_REPL_AMX is not 0. */
  amxInt8: boolean;
  /** The variant matmul picks on this CPU. */
  autoVariant: KernelVariant;
  /** Every variant that can run here (always includes "scalar"). */
  variants: KernelVariant[];
}

/** The addon's synchronous kernel test surface (native/kernels/kernels_napi.cc). Types are GgmlType numbers. */
export interface NativeKernels {
  /** llama.cpp's quantize_row_*_ref for weight types (what llama-quantize writes without an imatrix). */
  quantizeRow(type: number, x: Float32Array): Uint8Array;
  /**
   * The activation encoding llama.cpp's CPU backend pairs with `weightType` (Q8_0/Q8_1/Q8_K/F16/BF16/F32), as a
   * given variant's matmul computes it (every variant must produce the same bytes).
   */
  quantizeActivations(weightType: number, x: Float32Array, variant?: KernelVariant | "auto"): Uint8Array;
  dequantizeRow(type: number, data: Uint8Array, n: number): Float32Array;
  /**
   * The row-interleaved copy of a matrix that the model makes at load for the AVX-512 kernels (native/kernels/pack.h),
   * or null for types without one (Q8_0, Q5_0, Q4_0 and IQ4_NL have one).
   */
  pack(type: number, weights: Uint8Array, rows: number, cols: number): Uint8Array | null;
  /** Row r (inside the whole 16-row groups) of the original matrix, rebuilt from pack()'s copy. */
  unpackRow(type: number, packed: Uint8Array, rows: number, cols: number, r: number): Uint8Array;
  /**
   * y[m * rows + r] = dot(weight row r, x row m). With `packed` (from pack), the avx512 variant computes from it
   * (the same results); other variants ignore it. `gemmOrder`: Q4_K sums in llama.cpp's batched kernel's order
   * (Matrix::gemm_order) for every activation row (true), or per row order bits (nAct entries): 1 Q4_K's batched
   * order, 8 tinyBLAS's order for F32/F16/BF16 (without it, ggml_vec_dot's, as a lone row; with no per-row bits a
   * float matmul of 2+ rows takes tinyBLAS's, as llama.cpp's does).
   */
  matmul(type: number, weights: Uint8Array, rows: number, cols: number, x: Float32Array, nAct: number,
    variant?: KernelVariant | "auto", packed?: Uint8Array, gemmOrder?: boolean | Uint8Array): Float32Array;
  /**
   * Per activation row, the index of the largest of matmul's outputs (first of equal maxima, -1 if none is a
   * number above -Infinity); with a packed Q8_0 matrix, or a float matrix (F32/F16/BF16, through a Q8_0 copy made
   * for the call, as the model makes one for its head), through an estimate and exact checks of the close rows.
   */
  matmulArgmax(type: number, weights: Uint8Array, rows: number, cols: number, x: Float32Array, nAct: number, packed?: Uint8Array): Int32Array;
  /**
   * The Q8_0 estimate copy a model makes of a float head (F32/F16/BF16) for matmulArgmax, packed as pack() packs
   * Q8_0, with the largest row norms that bound its products (of the weights, of the copy, of their difference);
   * null where the model makes none (not AVX-512, rows not a multiple of 16).
   */
  argmaxShadow(type: number, weights: Uint8Array, rows: number, cols: number):
    { packed: Uint8Array; maxAbsScale: number; maxNorm: number; maxCopyNorm: number; maxErrorNorm: number } | null;
  /** Several matrices applied to the same activations in one pass (as Q/K/V or gate/up are); one output each. */
  matmulGroup(matrices: { type: number; weights: Uint8Array; rows: number; packed?: Uint8Array }[], cols: number, x: Float32Array,
    nAct: number, variant?: KernelVariant | "auto"): Float32Array[];
  /** silu(gate)·up with llama.cpp's vector exp, as the FFN should compute it to match llama.cpp bit for bit. */
  swiglu(gate: Float32Array, up: Float32Array): Float32Array;
  cpuFeatures(): KernelCpuFeatures;
  /**
   * The attention's vectorized expf (native/kernels/expf_libm.h) against the C library's expf over `count`
   * consecutive float bit patterns from `firstBits`; `vectorized` says whether the vector path runs on this CPU.
   */
  expfMismatches(firstBits: number, count: number): { mismatches: number; firstMismatchBits: number | null; vectorized: boolean };
  supports(type: number): boolean;
}

export const nativeKernels: NativeKernels = (native as unknown as { kernels: NativeKernels }).kernels;
