// <immintrin.h> for the engine's SIMD code, without GCC 12's false uninitialized-variable warnings from it.
// GCC 12's AVX-512 headers write _mm512_undefined_ps/_pd/... (the pass-through operand of many intrinsics:
// _mm512_reduce_add_ps, _mm512_cvtps_pd, _mm512_extractf64x4_pd, ...) as a self-initialized variable `__Y`; inlined
// into our kernels, every use is reported as "'__Y' may be used uninitialized" (365 warnings in a build; GCC bug
// 105593, fixed in GCC 13). The value is never read: the intrinsics pass an all-ones mask. The two warnings are
// turned off for the header's own lines only, so our code is still checked; the object code is unchanged.
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
