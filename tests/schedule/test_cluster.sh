#!/usr/bin/env bash
# Cluster test of `mailroom daemon` (issue 8): three daemons share one
# PostgreSQL data store (its own schema), one Redis in-memory store (locks,
# done markers, checkpoints) and one blob store (MinIO when MR_TEST_MINIO_*
# is set and this build has the s3 backend, else an fs directory shared by
# the three processes), with a test clock where an hour lasts HOUR_MS real
# milliseconds.  Every store purges hourly at its own minute.  Shows:
#   - every slot of every store between the first and last observed runs
#     exactly once across the three nodes (event=start counted per slot);
#   - SIGKILL of the node running the blob purge mid-run (garbage blobs to
#     delete), and later of the node running the PostgreSQL store's purge
#     (search index walk): each killed slot never completes, its lock
#     expires (TTL), and the next slot's run, on another node, resumes from
#     the checkpoint and completes;
#   - nothing linked is deleted and all garbage is (every linked blob reads
#     back verified, every unlinked one is gone), and every witness account
#     of the search index still answers its query;
#   - SIGTERM stops every daemon cleanly (exit 0).
# Needs MR_TEST_PG_URL and MR_TEST_REDIS_URL, else SKIPPED (exit 77).
set -u
mr=${1:?usage: test_cluster.sh MAILROOM CLUSTER_TOOL}
tool=${2:?usage: test_cluster.sh MAILROOM CLUSTER_TOOL}
. "$(dirname "$0")/lib.sh"
cluster_skip_unless_servers

HOUR_MS=${HOUR_MS:-6000}          # one scheduler hour in real ms
SCALE=$((3600000 / HOUR_MS))
ACCOUNTS=60                       # witness accounts; the pg purge walks them
LINKED=40                         # blobs linked to emails: must survive
GARBAGE=150                       # unlinked blobs: a blob purge of ~3 s
PAUSE_MS=25                       # test-mode pause per account: a pg run lasts ~2 s
LOCK_TTL_MS=2000
SLOTS_AFTER_KILL=3                # pg slots to watch after the resumed one

cluster_setup cluster "0 * *" "20 * *" 1s

"$tool" seed "$dir/mailroom.toml" $ACCOUNTS || { bad "seed"; exit 1; }
"$tool" blobs "$dir/mailroom.toml" $LINKED $GARBAGE || { bad "blobs"; exit 1; }
sleep 1.2 # the garbage is past its 1 s grace

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
starts_of() { logs | grep " store=$1 " | grep ' event=start' | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort -u; }
wait_for() { # seconds command...
  local t=$(( $1 * 10 )); shift
  while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.1; t=$((t - 1)); done
  return 1
}
has_starts() { [ "$(starts_of "$1" | wc -l)" -ge "$2" ]; }
resumed() { logs | grep " store=$1 " | grep ' event=start' | grep -q "resume task=$2"; }
killed_slots=() killed_stores=() resume_slots=()
kill_run() { # store task: SIGKILL the node running the store's next run mid-run, restart it
  local store=$1 task=$2 slot victim nth
  nth=$(( $(starts_of "$store" | wc -l) + 1 ))
  wait_for 60 has_starts "$store" "$nth" || { bad "$store: run $nth did not start within 60 s"; exit 1; }
  slot=$(starts_of "$store" | sed -n "${nth}p")
  victim=$(logs | grep " store=$store slot=$slot event=start" | sed 's/.* node=\([^ ]*\) .*/\1/' | head -1)
  sleep 0.6
  if logs | grep -q " store=$store slot=$slot event=end"; then
    bad "the $store run of $slot ended before the kill (make it slower)"; exit 1
  fi
  kill -9 "${pid_of[$victim]}"
  wait "${pid_of[$victim]}" 2>/dev/null
  echo "killed $victim mid-run of $store slot $slot"
  start_node "$victim" # it comes back under the same name and takes part again
  wait_for 60 resumed "$store" "$task" || { bad "no later $store run resumed task $task within 60 s"; exit 1; }
  killed_stores+=("$store"); killed_slots+=("$slot")
  resume_slots+=("$(logs | grep " store=$store " | grep ' event=start' | grep "resume task=$task" | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort | head -1)")
}
# the first blob run has the garbage to delete; a pg run completes, the next
# one is killed while it walks the accounts
kill_run "$blobs" blob
wait_for 60 has_starts "$pg" 1 || { bad "no pg run"; exit 1; }
kill_run "$pg" search
last_resume=${resume_slots[1]}
enough() { [ "$(starts_of "$pg" | awk -v r="$last_resume" '$1 > r' | wc -l)" -ge $SLOTS_AFTER_KILL ]; }
wait_for 90 enough || bad "fewer than $SLOTS_AFTER_KILL pg slots after $last_resume"
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
    want=1
    # a killed run may be resumed within its own slot, once its lock has
    # expired (on a loaded machine the slot can still be current then)
    for i in 0 1; do
      [ "${killed_stores[$i]:-}" = "$s" ] && [ "${killed_slots[$i]}" = "$slot" ] &&
        [ "${resume_slots[$i]}" = "$slot" ] && want=2
    done
    [ "$starts" -eq $want ] || bad "store $s slot $slot: $starts runs (want exactly $want)"
    n=$((n + 1))
  done
  [ $n -ge 4 ] || bad "store $s: only $n slots observed"
  completes=$(grep " store=$s " <<<"$all" | grep ' event=end' | grep -c 'outcome=complete')
  echo "store $s: $n slots from $first to $last, runs per slot = 1 (2 where a killed run resumed in its own slot), $completes completed"
done
# each killed slot never completed; the next run resumed it and completed
for i in 0 1; do
  st=${killed_stores[$i]} ks=${killed_slots[$i]} rs=${resume_slots[$i]}
  if [ "$rs" = "$ks" ]; then
    # resumed in the killed slot itself: the one end is the resumed run's
    [ "$(grep -c " store=$st slot=$ks event=end" <<<"$all")" -eq 1 ] || bad "killed slot $ks of $st: not exactly one end"
  else
    grep -q " store=$st slot=$ks event=end" <<<"$all" && bad "killed slot $ks of $st has an end"
    [[ "$rs" > "$ks" ]] || bad "$st: resume slot $rs is before $ks"
  fi
  grep " store=$st slot=$rs event=end" <<<"$all" | grep -q 'outcome=complete' || bad "$st: resumed slot $rs did not complete"
  rnode=$(grep " store=$st slot=$rs event=start" <<<"$all" | sed 's/.* node=\([^ ]*\) .*/\1/')
  echo "$st slot $ks killed; resumed in slot $rs on $rnode and completed"
done
deleted=$(grep " store=$blobs " <<<"$all" | grep ' task=blob ' | sed -n 's/.* blobs_deleted=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
echo "blob purges logged $deleted deletions (garbage: $GARBAGE; what the killed run deleted is not logged)"

# nothing kept was lost; the lock is free (a purge --now gets it at once)
"$tool" check "$dir/mailroom.toml" $ACCOUNTS || bad "search index lost documents"
"$tool" checkblobs "$dir/mailroom.toml" $LINKED $GARBAGE || bad "blobs: a linked blob was lost or garbage was left"
unset MAILROOM_TEST_PURGE_PAUSE_MS
"$mr" -c "$dir/mailroom.toml" purge --store "$pg" --now --node checker >"$dir/now.log" 2>&1 ||
  bad "purge --now after the test: $(cat "$dir/now.log")"

[ $fail -eq 0 ] && echo "PASS: cluster of 3 daemons on postgresql + redis + $blob_kind"
exit $fail
