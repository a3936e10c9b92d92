#!/usr/bin/env bash
# Cluster test of `mailroom daemon` (issue 8): three daemons share one
# PostgreSQL data store (its own schema), one Redis in-memory store (locks,
# done markers, checkpoints) and one blob directory, with a test clock where
# an hour lasts HOUR_MS real milliseconds.  Every store purges hourly at
# its own minute.  Shows:
#   - every slot of every store between the first and last observed runs
#     exactly once across the three nodes (event=start counted per slot);
#   - SIGKILL of the node running the PostgreSQL store's purge mid-run: its
#     slot never completes, the lock expires (TTL), and the next slot's run,
#     on another node, resumes from the checkpoint and completes;
#   - nothing the purge must keep is lost (every witness account of the
#     search index still answers its query);
#   - SIGTERM stops the survivors cleanly (exit 0, lock released).
# Needs MR_TEST_PG_URL and MR_TEST_REDIS_URL, else SKIPPED (exit 77).
set -u
mr=${1:?usage: test_cluster.sh MAILROOM CLUSTER_TOOL}
tool=${2:?usage: test_cluster.sh MAILROOM CLUSTER_TOOL}
[ -n "${MR_TEST_PG_URL:-}" ] || { echo "SKIPPED: MR_TEST_PG_URL is not set (scripts/servers/postgres start)"; exit 77; }
[ -n "${MR_TEST_REDIS_URL:-}" ] || { echo "SKIPPED: MR_TEST_REDIS_URL is not set (scripts/servers/redis start)"; exit 77; }
psql=psql
[ -x "${MR_TEST_PG_BIN:-}/psql" ] && psql=$MR_TEST_PG_BIN/psql

HOUR_MS=${HOUR_MS:-6000}          # one scheduler hour in real ms
SCALE=$((3600000 / HOUR_MS))
ACCOUNTS=60                       # witness accounts; the pg purge walks them
PAUSE_MS=25                       # test-mode pause per account: a pg run lasts ~2 s
LOCK_TTL_MS=2000
SLOTS_AFTER_KILL=3                # pg slots to watch after the resumed one

id=$$
dir=$(mktemp -d /tmp/mr-cluster-XXXXXX)
schema=mr_cluster_$id
pids=()
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  "$psql" -X -q "$MR_TEST_PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  if [ "$fail" = 0 ]; then rm -rf "$dir"; else echo "logs kept in $dir" >&2; fi
}
trap cleanup EXIT

"$psql" -X -q -v ON_ERROR_STOP=1 "$MR_TEST_PG_URL" -c "CREATE SCHEMA $schema" >/dev/null || { bad "create schema"; exit 1; }
sep='?'; case $MR_TEST_PG_URL in *\?*) sep='&';; esac
pg_url="${MR_TEST_PG_URL}${sep}options=-csearch_path%3D$schema"

# Store ids carry the pid: the shared Redis may serve other runs at once.
pg=pg$id blobs=blobs$id mem=mem$id
cat >"$dir/mailroom.toml" <<EOF
[storage]
data = "$pg"
fts = "$pg"
blob = "$blobs"
lookup = "$mem"

[store."$pg"]
type = "postgresql"
url = "$pg_url"
purge.frequency = "0 * *"

[store."$blobs"]
type = "fs"
path = "$dir/blobs"
purge.frequency = "20 * *"

[store."$mem"]
type = "redis"
url = "$MR_TEST_REDIS_URL"
purge.frequency = "40 * *"
EOF

"$tool" seed "$dir/mailroom.toml" $ACCOUNTS || { bad "seed"; exit 1; }

export MAILROOM_TEST_CLOCK_SCALE=$SCALE
export MAILROOM_TEST_CLOCK_EPOCH=$(date +%s%3N)
export MAILROOM_TEST_LOCK_TTL_MS=$LOCK_TTL_MS
export MAILROOM_TEST_PURGE_PAUSE_MS=$PAUSE_MS
export TZ=UTC

declare -A pid_of
start_node() { # name
  "$mr" -c "$dir/mailroom.toml" daemon --node "$1" >>"$dir/$1.log" 2>>"$dir/$1.err" &
  pid_of[$1]=$!
  pids+=($!)
}
for n in n1 n2 n3; do start_node $n; done

logs() { cat "$dir"/n?.log 2>/dev/null; }
# slot of the Nth (1-based) distinct pg slot that started
pg_starts() { logs | grep " store=$pg " | grep ' event=start' | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort -u; }
wait_for() { # seconds command...
  local t=$(( $1 * 10 )); shift
  while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.1; t=$((t - 1)); done
  return 1
}
has_start_after_first() { [ "$(pg_starts | wc -l)" -ge 2 ]; }

# Let one pg slot complete, then kill whichever node runs the next one.
wait_for 60 has_start_after_first || { bad "no second pg slot started within 60 s"; exit 1; }
killed_slot=$(pg_starts | sed -n 2p)
victim=$(logs | grep " store=$pg slot=$killed_slot event=start" | sed 's/.* node=\([^ ]*\) .*/\1/' | head -1)
sleep 0.5
if logs | grep -q " store=$pg slot=$killed_slot event=end"; then
  bad "the pg run of $killed_slot ended before the kill (make it slower: PAUSE_MS)"; exit 1
fi
kill -9 "${pid_of[$victim]}"
echo "killed $victim (pid ${pid_of[$victim]}) mid-run of $pg slot $killed_slot"
killed_at_log=$(grep -c . "$dir/$victim.log")

# The work resumes in a later slot on a surviving node and completes.
resumed() { logs | grep " store=$pg " | grep ' event=start' | grep -q "resume task=search"; }
wait_for 60 resumed || { bad "no later pg run resumed the checkpoint within 60 s"; exit 1; }
resume_slot=$(logs | grep " store=$pg " | grep ' event=start' | grep "resume task=search" | head -1 | sed 's/.* slot=\([^ ]*\) .*/\1/')
# the killed node comes back (under the same name) and takes part again
start_node "$victim"
enough() { [ "$(pg_starts | awk -v r="$resume_slot" '$1 > r' | wc -l)" -ge $SLOTS_AFTER_KILL ]; }
wait_for 90 enough || bad "fewer than $SLOTS_AFTER_KILL pg slots after $resume_slot"
sleep 1

# SIGTERM the living daemons: each exits 0 after releasing what it holds.
for n in n1 n2 n3; do kill -TERM "${pid_of[$n]}" 2>/dev/null; done
for n in n1 n2 n3; do
  wait "${pid_of[$n]}"; rc=$?
  [ $rc -eq 0 ] || bad "$n exited $rc after SIGTERM: $(tail -3 "$dir/$n.err")"
  grep -q 'daemon: stopped' "$dir/$n.err" || bad "$n: no clean stop"
done
pids=()

# ---- checks over the three logs ----
all=$(logs)
grep -q 'AddressSanitizer\|runtime error' "$dir"/n?.err && bad "sanitizer report: $(grep -h 'ERROR\|runtime error' "$dir"/n?.err | head -3)"
for s in $pg $blobs $mem; do
  slots=$(grep " store=$s " <<<"$all" | grep -E ' event=(start|skip)' | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort -u)
  first=$(grep " store=$s " <<<"$all" | grep ' event=start' | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort | head -1)
  last=$(grep " store=$s " <<<"$all" | grep ' event=start' | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort | tail -1)
  n=0
  for slot in $slots; do
    [[ "$slot" < "$first" || "$slot" > "$last" ]] && continue
    starts=$(grep -c " store=$s slot=$slot event=start" <<<"$all")
    [ "$starts" -eq 1 ] || bad "store $s slot $slot: $starts runs (want exactly 1)"
    n=$((n + 1))
  done
  [ $n -ge 4 ] || bad "store $s: only $n slots observed"
  completes=$(grep " store=$s " <<<"$all" | grep ' event=end' | grep -c 'outcome=complete')
  echo "store $s: $n slots from $first to $last, runs per slot = 1, $completes completed"
done
# the killed slot never completed; the resumed one did, elsewhere
grep -q " store=$pg slot=$killed_slot event=end" <<<"$all" && bad "killed slot $killed_slot has an end"
rnode=$(grep " store=$pg slot=$resume_slot event=start" <<<"$all" | sed 's/.* node=\([^ ]*\) .*/\1/')
grep " store=$pg slot=$resume_slot event=end" <<<"$all" | grep -q 'outcome=complete' ||
  bad "resumed slot $resume_slot did not complete"
[[ "$resume_slot" > "$killed_slot" ]] || bad "resume slot $resume_slot is not after $killed_slot"
echo "pg slot $killed_slot killed on $victim; resumed in slot $resume_slot on $rnode and completed"
# busy skips only while the dead node's lock lived (at most the slot after the kill)
busy=$(grep " store=$pg " <<<"$all" | grep -c 'reason=busy')
echo "busy skips of $pg: $busy"

# nothing kept was lost; the lock is free (a purge --now gets it at once)
"$tool" check "$dir/mailroom.toml" $ACCOUNTS || bad "search index lost documents"
unset MAILROOM_TEST_PURGE_PAUSE_MS
"$mr" -c "$dir/mailroom.toml" purge --store "$pg" --now --node checker >"$dir/now.log" 2>&1 ||
  bad "purge --now after the test: $(cat "$dir/now.log")"

[ $fail -eq 0 ] && echo "PASS: cluster of 3 daemons on postgresql + redis + fs blobs"
exit $fail
