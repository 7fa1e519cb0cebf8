// A small synchronous JS surface over the kernels, for tests and benchmarks: quantize/dequantize rows, run a
// matmul with a chosen variant, report CPU features. Registered as `kernels` on the addon's exports.
#pragma once
#include <napi.h>

namespace ir {

void register_kernel_api(Napi::Env env, Napi::Object exports);

}  // namespace ir
