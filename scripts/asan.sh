#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer (and UBSan) into build-asan/ and runs the tests that drive native
# code under it: the model fuzz, the synthetic-model parity, the greedy reference and the kernel tests.
#   usage: bash scripts/asan.sh [test files...]
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build-asan && mkdir -p build-asan
npm run rebuild:native -- --sanitize=1 >/dev/null 2>&1
nm -D build/Release/infer_native.node | grep __asan_ >/dev/null || { echo "the sanitizer flags did not reach the build" >&2; exit 1; }
cp build/Release/infer_native.node build-asan/infer_native.node
npm run rebuild:native >/dev/null 2>&1 # restore the normal build
tests=("$@")
[ ${#tests[@]} -gt 0 ] || mapfile -t tests < <(ls test/core/model/*.test.ts test/native/**/*.test.ts 2>/dev/null)
export INFER_REPL_ADDON="$PWD/build-asan/infer_native.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
node --import tsx --test --test-concurrency=1 "${tests[@]}"
