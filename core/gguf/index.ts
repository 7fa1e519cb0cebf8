export { readGguf, type GgufFile } from "./reader.ts";
export { writeGguf, encodeGguf, type GgufContents, type TensorToWrite, type TypedValue, type StreamedTensorData } from "./writer.ts";
export { GgufError } from "./errors.ts";
export * from "./types.ts";
export { getString, getNumber, getOptionalNumber, getArray } from "./metadata.ts";
export { readTensorData } from "./tensor-data.ts";
