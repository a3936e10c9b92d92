#!/usr/bin/env bash
# Hashing throughput: `mailroom blob hash` vs `b3sum --num-threads 1` on the
# same file (page-cached, after a warm-up), 5 runs each, median MB/s as JSON.
#   bench/blob/hash.sh PATH/TO/mailroom [SIZE_MIB]
set -euo pipefail
mr=$1; mib=${2:-512}
f=$(mktemp /tmp/mr-bench-hash.XXXXXX); trap 'rm -f "$f"' EXIT
head -c $((mib * 1024 * 1024)) /dev/urandom > "$f"
"$mr" blob hash "$f" >/dev/null; b3sum --num-threads 1 "$f" >/dev/null
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$mib / ($e - $s)" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m=$(for i in 1 2 3 4 5; do time_it "$mr" blob hash "$f"; done | median)
b=$(for i in 1 2 3 4 5; do time_it b3sum --num-threads 1 "$f"; done | median)
printf '{"bench":"blob","op":"hash","mib":%d,"mailroom_mb_s":%.0f,"b3sum_1thread_mb_s":%.0f,"ratio":%.3f}\n' "$mib" "$m" "$b" "$(echo "$m / $b" | bc -l)"
