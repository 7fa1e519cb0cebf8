export { quantizeGguf, type QuantizeOptions, type QuantizedTensor } from "./quantize.ts";
export { planTensorTypes } from "./mix.ts";
export { QUANT_FTYPES, type QuantFtype } from "./ftypes.ts";
