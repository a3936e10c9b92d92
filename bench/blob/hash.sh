#!/usr/bin/env bash
# Hashing throughput: `mailroom blob hash` vs `b3sum --num-threads 1` on the
# same file (page-cached, after a warm-up), 7 alternating pairs, median MB/s
# of each and the median of the per-pair ratios, as JSON.
#   bench/blob/hash.sh PATH/TO/mailroom [SIZE_MIB]
set -euo pipefail
mr=$1; mib=${2:-512}
f=$(mktemp /tmp/mr-bench-hash.XXXXXX); trap 'rm -f "$f"' EXIT
head -c $((mib * 1024 * 1024)) /dev/urandom > "$f"
"$mr" blob hash "$f" >/dev/null; b3sum --num-threads 1 "$f" >/dev/null
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$mib / ($e - $s)" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# alternating, so both meet the same machine load; ratio = median of the per-pair ratios
: > "$f.m"; : > "$f.b"; : > "$f.r"
for i in 1 2 3 4 5 6 7; do
  x=$(time_it "$mr" blob hash "$f"); y=$(time_it b3sum --num-threads 1 "$f")
  echo "$x" >> "$f.m"; echo "$y" >> "$f.b"; echo "$x / $y" | bc -l >> "$f.r"
done
m=$(median < "$f.m"); b=$(median < "$f.b"); r=$(median < "$f.r")
rm -f "$f.m" "$f.b" "$f.r"
printf '{"bench":"blob","op":"hash","mib":%d,"mailroom_mb_s":%.0f,"b3sum_1thread_mb_s":%.0f,"ratio":%.3f}\n' "$mib" "$m" "$b" "$r"
