#!/usr/bin/env bash
# `mailroom blob hash` must print what `b3sum --no-names` prints: empty,
# tiny, one chunk +/- 1, 1 MiB + 1 and a multi-chunk file of 5 MiB.
set -u
mr=$1
command -v b3sum >/dev/null || { echo "SKIPPED: b3sum not installed (Debian package b3sum)"; exit 77; }
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
: > "$w/empty"
printf 'a' > "$w/one"
head -c 1023 /dev/urandom > "$w/c1023"; head -c 1024 /dev/urandom > "$w/c1024"; head -c 1025 /dev/urandom > "$w/c1025"
head -c $((1024 * 1024 + 1)) /dev/urandom > "$w/mib1"
head -c $((5 * 1024 * 1024)) /dev/urandom > "$w/mib5"
pass=0; fail=0
for f in empty one c1023 c1024 c1025 mib1 mib5; do
  want=$(b3sum --no-names "$w/$f"); got=$("$mr" blob hash "$w/$f")
  if [ "$want" = "$got" ]; then pass=$((pass + 1)); else echo "FAIL $f: $got != $want" >&2; fail=$((fail + 1)); fi
done
# the empty file's id is the published BLAKE3 test vector
if [ "$("$mr" blob hash "$w/empty")" = af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
# a missing file is an error naming it, exit 1
out=$("$mr" blob hash "$w/nope" 2>&1); code=$?
if [ $code -eq 1 ] && grep -qF "$w/nope" <<<"$out"; then pass=$((pass + 1)); else echo "FAIL missing: $code $out" >&2; fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
