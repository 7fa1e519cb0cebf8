{
  "variables": { "sanitize%": 0 },
  "target_defaults": {
    "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
    "defines": [ "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS" ],
    "cflags!": [ "-fno-exceptions" ],
    "cflags_cc!": [ "-fno-exceptions", "-fno-rtti" ],
    "cflags_cc": [ "-std=c++17", "-O3", "-fexceptions", "-fPIC" ],
    "conditions": [
      [ "sanitize==1", {
        "cflags_cc+": [ "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-fno-sanitize=vptr" ],
        "ldflags+": [ "-fsanitize=address,undefined" ]
      } ]
    ]
  },
  "targets": [
    {
      "target_name": "kernels_ref",
      "type": "static_library",
      "sources": [ "native/kernels/quants.cc", "native/kernels/dot_scalar.cc" ],
      "cflags_cc": [ "-ffp-contract=off" ]
    },
    {
      "target_name": "kernels_avx2",
      "type": "static_library",
      "sources": [ "native/kernels/tile_simd.cc", "native/kernels/tile_ksuper_rows.cc", "native/kernels/tile_block32_few.cc" ],
      "defines": [ "IR_SIMD_NS=avx2" ],
      "cflags_cc": [ "-mavx2", "-mfma", "-mf16c" ]
    },
    {
      "target_name": "kernels_avx512",
      "type": "static_library",
      "sources": [ "native/kernels/tile_simd.cc", "native/kernels/tile_packed.cc", "native/kernels/tile_ksuper_batch.cc", "native/kernels/tile_bf16.cc", "native/kernels/tile_f16_batch.cc", "native/kernels/pack_shadow.cc" ],
      "defines": [ "IR_SIMD_NS=avx512" ],
      "cflags_cc": [ "-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni" ]
    },
    {
      "target_name": "kernels_amx",
      "type": "static_library",
      "sources": [ "native/kernels/tile_q4k_amx.cc" ],
      "cflags_cc": [ "-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni", "-mamx-tile", "-mamx-int8" ]
    },
    {
      "target_name": "infer_native",
      "dependencies": [ "kernels_ref", "kernels_avx2", "kernels_avx512", "kernels_amx" ],
      "sources": [ "native/addon.cc", "native/anonymous_memory.cc", "native/engine_threads.cc", "native/ggml_types.cc", "native/mapped_file.cc", "native/thread_pool.cc", "native/kernels/matmul.cc", "native/kernels/pack.cc", "native/kernels/cpu_features.cc", "native/kernels/expf_libm.cc", "native/kernels/kernels_napi.cc", "native/kv/kv_pool.cc", "native/model/attention.cc", "native/model/transformer.cc", "native/model/early_exit.cc", "native/model/family.cc", "native/model/greedy_chain.cc", "native/model/ahead_draft.cc", "native/model/moe.cc", "native/model/reduced_head.cc" ]
    }
  ]
}
