export { quantizeGguf, type QuantizeOptions, type QuantizedTensor } from "./quantize.ts";
export { planTensorTypes, QUANT_FTYPES, type QuantFtype } from "./mix.ts";
