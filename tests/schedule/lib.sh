# lib.sh — the setup test_cluster.sh and test_consistency.sh share, sourced
# by both: SKIPPED (exit 77) without MR_TEST_PG_URL / MR_TEST_REDIS_URL, a
# scratch directory and PostgreSQL schema of this run's own (dropped on exit
# with the processes in $pids killed; the directory is kept when a check
# failed), and a mailroom.toml with one PostgreSQL store (data and index),
# one Redis store (in-memory) and one blob store: s3 on MinIO when
# MR_TEST_MINIO_* is set and this build has the s3 backend, else an fs
# directory shared by every process.
#
# cluster_setup NAME PG_PURGE BLOB_PURGE BLOB_GRACE  (needs $tool: cluster_tool)
#   NAME names the directory, the schema and the MinIO key prefix; the
#   others are the stores' purge.frequency / purge.grace.  Sets id dir
#   schema pids fail pg_url pg blobs mem blob_store blob_kind and writes
#   $dir/mailroom.toml; defines bad (report a failure, go on).

bad() { echo "FAIL: $*" >&2; fail=1; }

cluster_skip_unless_servers() {
  [ -n "${MR_TEST_PG_URL:-}" ] || { echo "SKIPPED: MR_TEST_PG_URL is not set (scripts/servers/postgres start)"; exit 77; }
  [ -n "${MR_TEST_REDIS_URL:-}" ] || { echo "SKIPPED: MR_TEST_REDIS_URL is not set (scripts/servers/redis start)"; exit 77; }
}

cluster_cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  "$psql" -X -q "$MR_TEST_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  if [ "$fail" = 0 ]; then rm -rf "$dir"; else echo "logs kept in $dir" >&2; fi
}

cluster_write_config() {
  cat >"$dir/mailroom.toml" <<TOML
[storage]
data = "$pg"
fts = "$pg"
blob = "$blobs"
lookup = "$mem"

[store."$pg"]
type = "postgresql"
url = "$pg_url"
purge.frequency = "$pg_purge"

$blob_store

[store."$mem"]
type = "redis"
url = "$MR_TEST_REDIS_URL"
purge.frequency = "40 * *"
TOML
}

cluster_setup() { # name pg_purge blob_purge blob_grace
  local name=$1 blob_purge=$3 blob_grace=$4 fs_store
  pg_purge=$2
  psql=psql
  [ -x "${MR_TEST_PG_BIN:-}/psql" ] && psql=$MR_TEST_PG_BIN/psql
  id=$$
  dir=$(mktemp -d "/tmp/mr-$name-XXXXXX")
  schema=mr_${name}_$id
  pids=()
  fail=0
  trap cluster_cleanup EXIT

  "$psql" -X -q -v ON_ERROR_STOP=1 "$MR_TEST_PG_URL" -c "CREATE SCHEMA $schema" >/dev/null || { bad "create schema"; exit 1; }
  local sep='?'; case $MR_TEST_PG_URL in *\?*) sep='&';; esac
  pg_url="${MR_TEST_PG_URL}${sep}options=-csearch_path%3D$schema"

  # Store ids carry the pid: the shared Redis may serve other runs at once.
  pg=pg$id blobs=blobs$id mem=mem$id
  fs_store="[store.\"$blobs\"]
type = \"fs\"
path = \"$dir/blobs\"
purge.frequency = \"$blob_purge\"
purge.grace = \"$blob_grace\""
  blob_store=$fs_store blob_kind="fs (shared directory)"
  if [ -n "${MR_TEST_MINIO_ENDPOINT:-}" ]; then
    blob_store="[store.\"$blobs\"]
type = \"s3\"
endpoint = \"$MR_TEST_MINIO_ENDPOINT\"
region = \"us-east-1\"
bucket = \"$MR_TEST_MINIO_BUCKET\"
access-key = \"$MR_TEST_MINIO_ACCESS_KEY\"
secret-key = \"$MR_TEST_MINIO_SECRET_KEY\"
path-style = true
key-prefix = \"$name-$id/\"
purge.frequency = \"$blob_purge\"
purge.grace = \"$blob_grace\""
    blob_kind="s3 on MinIO ($MR_TEST_MINIO_ENDPOINT)"
  fi
  cluster_write_config
  if [ "$blob_store" != "$fs_store" ] && ! "$tool" blobs "$dir/mailroom.toml" 0 0 2>"$dir/probe.err"; then
    echo "NOTE: s3 blob store unusable in this build ($(tail -1 "$dir/probe.err")): using fs"
    blob_store=$fs_store blob_kind="fs (shared directory)"
    cluster_write_config
  fi
  echo "blobs: $blob_kind"
}
