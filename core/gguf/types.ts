/** GGML tensor types as numbered in the GGUF format, with their block geometry. */
export enum GgmlType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
}

interface TypeTraits { blockSize: number; typeSize: number }

/** Elements per block and bytes per block, exactly as ggml defines them. */
const TRAITS: Partial<Record<GgmlType, TypeTraits>> = {
  [GgmlType.F32]: { blockSize: 1, typeSize: 4 },
  [GgmlType.F16]: { blockSize: 1, typeSize: 2 },
  [GgmlType.BF16]: { blockSize: 1, typeSize: 2 },
  [GgmlType.Q4_0]: { blockSize: 32, typeSize: 18 },
  [GgmlType.Q4_1]: { blockSize: 32, typeSize: 20 },
  [GgmlType.Q5_0]: { blockSize: 32, typeSize: 22 },
  [GgmlType.Q5_1]: { blockSize: 32, typeSize: 24 },
  [GgmlType.Q8_0]: { blockSize: 32, typeSize: 34 },
  [GgmlType.Q8_1]: { blockSize: 32, typeSize: 36 },
  [GgmlType.Q2_K]: { blockSize: 256, typeSize: 84 },
  [GgmlType.Q3_K]: { blockSize: 256, typeSize: 110 },
  [GgmlType.Q4_K]: { blockSize: 256, typeSize: 144 },
  [GgmlType.Q5_K]: { blockSize: 256, typeSize: 176 },
  [GgmlType.Q6_K]: { blockSize: 256, typeSize: 210 },
  [GgmlType.Q8_K]: { blockSize: 256, typeSize: 292 },
  [GgmlType.IQ4_NL]: { blockSize: 32, typeSize: 18 },
  [GgmlType.IQ4_XS]: { blockSize: 256, typeSize: 136 },
  [GgmlType.I8]: { blockSize: 1, typeSize: 1 },
  [GgmlType.I16]: { blockSize: 1, typeSize: 2 },
  [GgmlType.I32]: { blockSize: 1, typeSize: 4 },
  [GgmlType.I64]: { blockSize: 1, typeSize: 8 },
  [GgmlType.F64]: { blockSize: 1, typeSize: 8 },
};

export function ggmlTypeName(type: number): string {
  return GgmlType[type] ?? `unknown(${type})`;
}

/** Block geometry of a type, or undefined when this project does not know its layout. */
export function typeTraits(type: number): TypeTraits | undefined {
  return TRAITS[type as GgmlType];
}

/** Bytes taken by `nElements` of a type whose block geometry is known; nElements must be a whole number of blocks. */
export function byteSize(type: GgmlType, nElements: number): number {
  const t = TRAITS[type];
  if (!t) throw new Error(`no block layout known for ${ggmlTypeName(type)}`);
  return (nElements / t.blockSize) * t.typeSize;
}

/** Metadata value types of GGUF key/value pairs. */
export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufArray;
/** Arrays keep their element type so a round trip through the writer is exact. */
export interface GgufArray { readonly itemType: GgufValueType; readonly items: readonly GgufValue[] | ArrayLike<number | bigint> }

export interface TensorInfo {
  readonly name: string;
  /** ggml order: dims[0] is the contiguous (row) length. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  /** Offset relative to the start of the data section. */
  readonly offset: number;
  readonly nElements: number;
  readonly nBytes: number;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
