#!/bin/sh
# `mailroom blob hash FILE` must print exactly what `b3sum --no-names FILE`
# prints: empty, small, 1 MiB+1 and multi-chunk files.  Exit 77 (skipped)
# only when b3sum is not installed.
set -eu
bin="$1"
command -v b3sum >/dev/null 2>&1 || { echo "SKIPPED: b3sum not installed (apt-get install b3sum)"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
for size in 0 1 1024 1025 1048577 4194309; do
	head -c "$size" /dev/urandom > "$dir/f"
	mine=$("$bin" blob hash "$dir/f")
	theirs=$(b3sum --no-names "$dir/f")
	if [ "$mine" = "$theirs" ]; then echo "ok   size $size"; else echo "FAIL size $size: $mine != $theirs"; fail=1; fi
done
if "$bin" blob hash "$dir/missing" 2>"$dir/err"; then echo "FAIL missing file accepted"; fail=1; fi
grep -q 'missing' "$dir/err" || { echo "FAIL error does not name the file"; fail=1; }
exit $fail
