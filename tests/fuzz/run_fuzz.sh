#!/usr/bin/env bash
# ctest driver: fuzzes one target for real with libFuzzer (scripts/fuzz),
# in a clang build of its own under BUILD_DIR.
#   run_fuzz.sh SOURCE_DIR BUILD_DIR NAME SECONDS
# SKIPPED (77) when clang or its libFuzzer runtime (Debian:
# libclang-rt-14-dev) is missing.  A crash, leak or timeout fails the test
# and leaves the input in tests/fuzz/regressions/NAME/ to be committed.
set -euo pipefail
src=$1 build=$2 name=$3 secs=$4
command -v clang >/dev/null || { echo "SKIPPED: clang is not installed"; exit 77; }
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
  echo "SKIPPED: clang cannot link libFuzzer (install libclang-rt-14-dev): $(head -1 "$probe/err")"
  exit 77
fi
cd "$src"
MR_FUZZ_BUILD_DIR=$build exec scripts/fuzz "$name" "$secs"
