#!/usr/bin/env bash
# bench/memory — bench_memory against every in-memory backend this machine
# has running, one JSON line per op and pipeline depth (see bench_memory.c):
#   local                 always
#   rocksdb               the data-store backend, on a scratch RocksDB
#   redis, valkey,        when MR_TEST_REDIS_URL / MR_TEST_VALKEY_URL /
#   redis-cluster         MR_TEST_REDIS_CLUSTER_URLS are set (scripts/servers/*
#                         write them to $MR_RUN_DIR/env), each with
#                         redis-benchmark against the same server in the run
#
#   bench/memory/run.sh BUILD_DIR
#
# MR_BENCH_N_LOCAL (default 3000000), MR_BENCH_N_REMOTE (default 50000) and
# MR_BENCH_N_DATASTORE (default 100000) ops per figure.
set -euo pipefail
bench=$(realpath "$1")/bench/memory/bench_memory
[ -x "$bench" ] || { echo "bench/memory: $bench not built (configure with -DMR_BENCH=ON)" >&2; exit 2; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mr-bench-memory.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

"$bench" local "${MR_BENCH_N_LOCAL:-3000000}"
"$bench" rocksdb "$scratch/db" "${MR_BENCH_N_DATASTORE:-100000}"
for v in MR_TEST_REDIS_URL MR_TEST_VALKEY_URL; do
  if [ -n "${!v:-}" ]; then
    name=${v#MR_TEST_}; name=${name%_URL}
    "$bench" redis "${!v}" "${MR_BENCH_N_REMOTE:-50000}" | sed "s/\"backend\":\"redis\"/\"backend\":\"${name,,}\"/"
  else
    name=${v#MR_TEST_}; name=${name%_URL}
    echo "{\"bench\":\"memory\",\"backend\":\"${name,,}\",\"skipped\":\"$v not set (no server started)\"}"
  fi
done
if [ -n "${MR_TEST_REDIS_CLUSTER_URLS:-}" ]; then
  "$bench" redis-cluster "$MR_TEST_REDIS_CLUSTER_URLS" "${MR_BENCH_N_REMOTE:-50000}"
else
  echo '{"bench":"memory","backend":"redis-cluster","skipped":"MR_TEST_REDIS_CLUSTER_URLS not set (no cluster started)"}'
fi
