#!/usr/bin/env bash
# bench/search — indexing rate and query latency of mailroom's search store on
# the embedded defaults beside notmuch and mu, on the same Maildirs in the
# same run, and the agreement of result sets with notmuch.
#
#   bench/search/run.sh [--mailroom BIN] [--corpus DIR] [--work DIR] [--reps N] [--skip-peers] [--queries-only]
#
# --corpus: a directory of Maildirs, or a directory of *.tar.zst archives
#   holding them (default ../shared/corpus/main, extracted into the work dir).
# Output: JSON lines on stdout (one per indexer, one per query, a summary);
#   $WORK/agreement.md, a Markdown table of per-query counts for the docs.
# --queries-only: reuse the indexes a finished run left in --work DIR (no
#   indexing figures; for re-timing the queries after a change).
# Counts: `mailroom search --count` counts stored messages;
#   `notmuch count --output=files` counts files, so both count a message
#   stored twice (the same bytes in two Maildirs) twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mailroom=${MAILROOM:-}
corpus=""
work=""
reps=5
peers=1
queries_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --mailroom) mailroom=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --skip-peers) peers=0; shift ;;
    --queries-only) queries_only=1; shift ;;
    *) echo "bench/search: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$mailroom" ]; then
  for c in "$root/build-release/mailroom" "$root/build/mailroom" "$root/build-test/mailroom"; do
    [ -x "$c" ] && { mailroom=$c; break; }
  done
fi
[ -n "$mailroom" ] && [ -x "$mailroom" ] || { echo "bench/search: no mailroom binary (use --mailroom BIN)" >&2; exit 2; }
[ -n "$corpus" ] || corpus="$root/../shared/corpus/main"
[ -d "$corpus" ] || { echo "bench/search: corpus $corpus not found" >&2; exit 2; }
work=${work:-$(mktemp -d /tmp/mailroom-bench-search.XXXXXX)}
mkdir -p "$work"
queries="$here/queries.tsv"

now_ns() { date +%s%N; }

# ---- the Maildirs ----
maildirs=$work/maildirs
if ls "$corpus"/*.tar.zst >/dev/null 2>&1; then
  if [ ! -f "$work/.extracted" ]; then
    rm -rf "$maildirs"; mkdir -p "$maildirs"
    for a in "$corpus"/*.tar.zst; do tar --zstd -xf "$a" -C "$maildirs"; done
    touch "$work/.extracted"
  fi
else
  maildirs=$(cd "$corpus" && pwd)
fi
nfiles=$(find "$maildirs" -type f -path '*/cur/*' -o -type f -path '*/new/*' | wc -l)
nbytes=$(find "$maildirs" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%s\n' | awk '{s+=$1} END {print s+0}')
echo "{\"corpus\":\"$corpus\",\"messages\":$nfiles,\"bytes\":$nbytes}"

# ---- mailroom: import (parse, store blobs and metadata, index) ----
mr_home=$work/mailroom
muhome=$work/mu
nm_s=0 mu_s=0 mr_s=0
if [ $queries_only = 1 ]; then
  [ -f "$work/.indexed" ] || { echo "bench/search: --queries-only needs a finished run in $work" >&2; exit 2; }
  export MAILROOM_CONFIG=$mr_home/mailroom.toml NOTMUCH_CONFIG=$work/notmuch-config
else
rm -f "$work/.indexed"
# An earlier run's store is moved aside and deleted only after the timings:
# on ext4 without a journal (this VM's disk) inodes freed in the last
# 60-360 s are skipped one by one when new ones are allocated, which made a
# run right after deleting 20,000 files pay for that deletion.
old_home=""
if [ -e "$mr_home" ]; then old_home=$mr_home.old.$$; mv "$mr_home" "$old_home"; fi
"$mailroom" init "$mr_home" >/dev/null
export MAILROOM_CONFIG=$mr_home/mailroom.toml
t0=$(now_ns)
"$mailroom" import bench "$maildirs" > "$work/import.log" 2>&1 || { echo "bench/search: import failed, see $work/import.log" >&2; tail -5 "$work/import.log" >&2; exit 1; }
t1=$(now_ns)
mr_s=$(echo "scale=3; ($t1-$t0)/1000000000" | bc)
echo "{\"indexer\":\"mailroom import\",\"seconds\":$mr_s,\"messages_per_s\":$(echo "scale=1; $nfiles/$mr_s" | bc)}"

# ---- peers ----
if [ $peers = 1 ]; then
  export NOTMUCH_CONFIG=$work/notmuch-config
  # the database in the work dir, never inside the corpus
  rm -rf "$work/notmuch-db"; mkdir -p "$work/notmuch-db"
  printf '[database]\npath=%s\nmail_root=%s\n[new]\ntags=\nignore=LICENSES;MANIFEST.tsv;PROVENANCE.md;SHA256SUMS\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n' "$work/notmuch-db" "$maildirs" > "$NOTMUCH_CONFIG"
  t0=$(now_ns); notmuch new --quiet >/dev/null 2>&1; t1=$(now_ns)
  nm_s=$(echo "scale=3; ($t1-$t0)/1000000000" | bc)
  echo "{\"indexer\":\"notmuch new\",\"seconds\":$nm_s,\"messages_per_s\":$(echo "scale=1; $nfiles/$nm_s" | bc)}"
  rm -rf "$muhome"
  mu init --maildir="$maildirs" --muhome="$muhome" >/dev/null
  t0=$(now_ns); mu index --muhome="$muhome" --quiet >/dev/null 2>&1; t1=$(now_ns)
  mu_s=$(echo "scale=3; ($t1-$t0)/1000000000" | bc)
  echo "{\"indexer\":\"mu index\",\"seconds\":$mu_s,\"messages_per_s\":$(echo "scale=1; $nfiles/$mu_s" | bc)}"
fi
touch "$work/.indexed"
[ -z "$old_home" ] || rm -rf "$old_home"
fi

# ---- queries: counts, agreement, latency ----
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print 0} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
time_ms() { # reps runs of a command; prints the median in ms
  local i t0 t1
  for ((i = 0; i < reps; i++)); do
    t0=$(now_ns); "$@" >/dev/null 2>&1 || true; t1=$(now_ns)
    echo "scale=3; ($t1-$t0)/1000000" | bc
  done | median
}
json_str() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

table=$work/agreement.md
{
  echo "| kind | mailroom query | mailroom | notmuch | difference |"
  echo "|---|---|---:|---:|---:|"
} > "$table"
: > "$work/lat-mr" ; : > "$work/lat-nm" ; : > "$work/lat-mu"
nq=0 nsame=0
while IFS=$'\t' read -r kind mq nq_ muq; do
  case $kind in ''|'#'*) continue ;; esac
  nq=$((nq + 1))
  mr_count=$("$mailroom" search bench "$mq" --count 2>"$work/err" || echo "error")
  [ "$mr_count" = error ] && mr_count="error: $(head -1 "$work/err")"
  mr_ms=$(time_ms "$mailroom" search bench "$mq" --limit 50)
  echo "$mr_ms" >> "$work/lat-mr"
  nm_count=null nm_ms=null mu_ms=null
  if [ $peers = 1 ]; then
    nm_count=$(notmuch count --output=files "$nq_")
    nm_ms=$(time_ms notmuch search --limit=50 "$nq_"); echo "$nm_ms" >> "$work/lat-nm"
    mu_ms=$(time_ms mu find --muhome="$muhome" --maxnum=50 "$muq"); echo "$mu_ms" >> "$work/lat-mu"
  fi
  diff=null
  if [[ $mr_count =~ ^[0-9]+$ && $nm_count =~ ^[0-9]+$ ]]; then
    diff=$((mr_count - nm_count))
    [ $diff = 0 ] && nsame=$((nsame + 1))
  fi
  mr_json=$mr_count; [[ $mr_count =~ ^[0-9]+$ ]] || mr_json="\"$(json_str "$mr_count")\""
  echo "{\"kind\":\"$kind\",\"query\":\"$(json_str "$mq")\",\"notmuch_query\":\"$(json_str "$nq_")\",\"mailroom\":$mr_json,\"notmuch\":$nm_count,\"difference\":$diff,\"mailroom_ms\":$mr_ms,\"notmuch_ms\":$nm_ms,\"mu_ms\":$mu_ms}"
  echo "| $kind | \`$mq\` | $mr_count | $nm_count | $diff |" >> "$table"
done < "$queries"

pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {if (NR==0) {print "null"; exit} i=int((NR-1)*p/100)+1; print a[i]}'; }
summary="{\"summary\":true,\"queries\":$nq,\"same_count\":$nsame"
summary+=",\"mailroom_p50_ms\":$(pct "$work/lat-mr" 50),\"mailroom_p95_ms\":$(pct "$work/lat-mr" 95)"
if [ $peers = 1 ]; then
  summary+=",\"notmuch_p50_ms\":$(pct "$work/lat-nm" 50),\"notmuch_p95_ms\":$(pct "$work/lat-nm" 95)"
  summary+=",\"mu_p50_ms\":$(pct "$work/lat-mu" 50),\"mu_p95_ms\":$(pct "$work/lat-mu" 95)"
  [ $queries_only = 1 ] ||
    summary+=",\"index_ratio_vs_notmuch\":$(echo "scale=2; $nm_s/$mr_s" | bc),\"index_ratio_vs_mu\":$(echo "scale=2; $mu_s/$mr_s" | bc)"
fi
echo "$summary}"
echo "bench/search: table in $table" >&2
