#!/usr/bin/env bash
# bench/import — messages/s and MB/s importing a Maildir tree with
# `mailroom import` on the embedded defaults (RocksDB data + built-in index,
# fs blobs, from a fresh `mailroom init`), beside `notmuch new` and
# `mu index` on the same Maildirs in the same run.  JSON lines on stdout:
# one per tool and run, then a summary with medians, min-max and the
# ratios mailroom/notmuch and mailroom/mu.
#
#   bench/import/run.sh MAILROOM [CORPUS]
#
# CORPUS: a directory of Maildirs, or a directory of *.tar.zst archives of
# them (../shared/corpus/main, the default), extracted to a scratch
# directory first.  MR_BENCH_RUNS (default 3) runs of each tool;
# MR_BENCH_NO_INDEX=1 adds a mailroom run without indexing (to show what
# indexing costs).  Every tool starts from an empty store each run; the
# page cache is warm for all of them (each reads the same files).
set -euo pipefail
mr=$(realpath "$1")
corpus=${2:-$(dirname "$0")/../../../shared/corpus/main}
runs=${MR_BENCH_RUNS:-3}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mr-bench-import.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

if compgen -G "$corpus/*.tar.zst" >/dev/null; then
  mkdir -p "$scratch/mail"
  for f in "$corpus"/*.tar.zst; do tar --zstd -xf "$f" -C "$scratch/mail"; done
  mail=$scratch/mail
else
  mail=$(realpath "$corpus")
fi
messages=$(find "$mail" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
bytes=$(find "$mail" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%s\n' | awk '{s += $1} END {print s + 0}')

now() { date +%s.%N; }
emit() { # tool run seconds
  awk -v t="$1" -v r="$2" -v s="$3" -v m="$messages" -v b="$bytes" 'BEGIN {
    printf "{\"bench\":\"import\",\"tool\":\"%s\",\"run\":%d,\"messages\":%d,\"bytes\":%d,\"seconds\":%.3f,\"messages_per_second\":%.1f,\"mb_per_second\":%.3f}\n",
      t, r, m, b, s, m / s, b / 1e6 / s }'
}
declare -A rates

# Each mailroom run gets a new store, and the old ones are deleted at exit
# only: on ext4 without a journal (this VM's disk) inodes freed in the last
# 60-360 s are skipped one by one when new ones are allocated, so a run
# right after deleting the previous run's 20,000 files paid for that.
run_mailroom() { # name extra-args...
  local name=$1; shift
  local node=$scratch/node.$name.$run
  "$mr" init "$node" >/dev/null
  local t0 t1 out
  t0=$(now)
  out=$(MAILROOM_CONFIG=$node/mailroom.toml "$mr" --json import bench "$mail" "$@")
  t1=$(now)
  grep -q '"failed":0' <<<"$out" || { echo "mailroom import failed: $out" >&2; exit 1; }
  local s; s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
  emit "$name" "$run" "$s"
  rates[$name]+="$(awk -v s="$s" -v m="$messages" 'BEGIN {print m / s}') "
}
run_notmuch() {
  rm -rf "$scratch/nm"
  mkdir -p "$scratch/nm/db"
  printf '[database]\npath=%s\nmail_root=%s\n[new]\ntags=new\n[maildir]\nsynchronize_flags=true\n' \
    "$scratch/nm/db" "$mail" >"$scratch/nm/config"
  local t0 t1
  t0=$(now)
  NOTMUCH_CONFIG=$scratch/nm/config notmuch new --quiet >/dev/null
  t1=$(now)
  local s; s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
  emit notmuch "$run" "$s"
  rates[notmuch]+="$(awk -v s="$s" -v m="$messages" 'BEGIN {print m / s}') "
}
run_mu() {
  rm -rf "$scratch/mu"
  mu init --quiet --muhome="$scratch/mu" --maildir="$mail" >/dev/null
  local t0 t1
  t0=$(now)
  mu index --quiet --muhome="$scratch/mu" >/dev/null
  t1=$(now)
  local s; s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
  emit mu "$run" "$s"
  rates[mu]+="$(awk -v s="$s" -v m="$messages" 'BEGIN {print m / s}') "
}

have_notmuch=0; command -v notmuch >/dev/null && have_notmuch=1
have_mu=0; command -v mu >/dev/null && have_mu=1
for run in $(seq 1 "$runs"); do
  run_mailroom mailroom
  [ "${MR_BENCH_NO_INDEX:-0}" = 1 ] && run_mailroom mailroom_no_index --no-index
  [ $have_notmuch = 1 ] && run_notmuch
  [ $have_mu = 1 ] && run_mu
done

stat() { # median min max of a space-separated list
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR] = $1} END {
    m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f", m, a[1], a[NR] }'
}
summary="{\"bench\":\"import\",\"summary\":true,\"messages\":$messages,\"bytes\":$bytes,\"runs\":$runs"
for tool in mailroom mailroom_no_index notmuch mu; do
  [ -n "${rates[$tool]:-}" ] || continue
  read -r med lo hi <<<"$(stat "${rates[$tool]}")"
  summary+=",\"${tool}_messages_per_second\":{\"median\":$med,\"min\":$lo,\"max\":$hi}"
done
read -r mr_med _ _ <<<"$(stat "${rates[mailroom]}")"
for peer in notmuch mu; do
  [ -n "${rates[$peer]:-}" ] || continue
  read -r p_med _ _ <<<"$(stat "${rates[$peer]}")"
  summary+=",\"ratio_mailroom_vs_${peer}\":$(awk -v a="$mr_med" -v b="$p_med" 'BEGIN {printf "%.3f", a / b}')"
done
echo "$summary}"
