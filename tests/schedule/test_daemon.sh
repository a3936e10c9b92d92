#!/usr/bin/env bash
# `mailroom purge` and `mailroom daemon` on one node:
#  - SQLite serving every role (locks and done markers in the data store, so
#    separate `purge` processes see each other): purge --now, a slot purge
#    and its repeat (skipped: done), usage errors (exit 2);
#  - the embedded defaults written by `mailroom init` (RocksDB + local
#    in-memory store): the daemon under the test clock runs each store's
#    slots once each and stops on SIGTERM with exit 0.
set -u
mr=${1:?usage: test_daemon.sh PATH-TO-mailroom}
dir=$(mktemp -d /tmp/mr-daemon-XXXXXX)
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
trap 'if [ $fail = 0 ]; then rm -rf "$dir"; else echo "kept $dir" >&2; fi' EXIT
export TZ=UTC

cat >"$dir/sqlite.toml" <<TOML
[storage]
data = "db"

[store."db"]
type = "sqlite"
path = "$dir/db.sqlite"
purge.frequency = "0 * *"

[store."other"]
type = "sqlite"
path = "$dir/other.sqlite"
TOML
c="$mr -c $dir/sqlite.toml"

out=$($c schedule list 2>&1) || bad "schedule list: $out"
grep -Eq '^db +sqlite +0 \* \* +[0-9T:+-]+ +blob,memory,changes,search,maintain$' <<<"$out" || bad "schedule list db: $out"
grep -Eq '^other +sqlite +\(none\) +no purge scheduled +maintain$' <<<"$out" || bad "schedule list other: $out"
out=$($c --json schedule list 2>&1) || bad "schedule list --json: $out"
grep -qF '"store":"db","type":"sqlite","purge_frequency":"0 * *","next":"' <<<"$out" || bad "schedule list --json: $out"
grep -qF '"tasks":"blob,memory,changes,search,maintain"}' <<<"$out" || bad "schedule list --json tasks: $out"

out=$($c purge --store db --now 2>&1) || bad "purge --now: $out"
grep -q 'event=start tasks=blob,memory,changes,search,maintain' <<<"$out" || bad "purge --now tasks: $out"
grep -q 'event=end .*outcome=complete' <<<"$out" || bad "purge --now end: $out"
grep -q 'task=memory .*backend=datastore' <<<"$out" || bad "memory task on the data store: $out"

hour=$(date -u +%Y-%m-%dT%H)
out=$($c purge --store db 2>&1) || bad "slot purge: $out"
grep -q 'event=end .*outcome=complete' <<<"$out" || bad "slot purge: $out"
slot=$(sed -n 's/.* slot=\([^ ]*\) event=start.*/\1/p' <<<"$out")
[ "$slot" = "$hour:00:00Z" ] || [ "$slot" = "$(date -u +%Y-%m-%dT%H):00:00Z" ] || bad "slot $slot is not this hour's"
out=$($c purge --store db 2>&1) || bad "repeat slot purge: $out"
grep -q 'event=skip reason=done (completed by ' <<<"$out" || bad "repeat slot purge not skipped: $out"
grep -q 'event=start' <<<"$out" && bad "repeat slot purge ran: $out"

check_usage() { # name needle args...
  local name=$1 needle=$2; shift 2
  local out code
  out=$("$@" 2>&1); code=$?
  [ $code -eq 2 ] && grep -qF -- "$needle" <<<"$out" || bad "$name: exit $code, '$out' (want 2 and '$needle')"
}
check_usage no-store "--store is required" $c purge
check_usage unknown-store 'no store "nope"' $c purge --store nope --now
check_usage no-schedule 'has no purge.frequency' $c purge --store other
check_usage bad-grace '--grace "soon"' $c purge --store db --now --grace soon
check_usage daemon-arg 'unexpected argument "extra"' $c daemon extra
MAILROOM_TEST_CLOCK_SCALE=fast $c daemon >/dev/null 2>"$dir/err"; code=$?
[ $code -eq 2 ] && grep -q 'MAILROOM_TEST_CLOCK_SCALE="fast"' "$dir/err" || bad "bad test clock: exit $code $(cat "$dir/err")"
out=$($c purge --store other --now 2>&1) || bad "purge --now of an unscheduled store: $out"
grep -q 'tasks=maintain' <<<"$out" || bad "store other: $out"

# The embedded defaults; an hour lasts 1.2 s.
"$mr" init "$dir/node" >/dev/null || bad "init"
sed -i 's/"30 3 \*"/"30 * *"/; s/"0 3 \*"/"0 * *"/' "$dir/node/mailroom.toml"
MAILROOM_TEST_CLOCK_SCALE=3000 "$mr" -c "$dir/node/mailroom.toml" daemon --node solo >"$dir/solo.log" 2>"$dir/solo.err" &
pid=$!
# until every store ran 3 slots (at most 60 s: a loaded machine is slow to start)
runs() { grep " store=$1 " "$dir/solo.log" 2>/dev/null | grep -c ' event=start'; }
for _ in $(seq 600); do
  [ "$(runs rocksdb)" -ge 3 ] && [ "$(runs fs)" -ge 3 ] && [ "$(runs memory)" -ge 3 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
kill -TERM $pid
wait $pid; code=$?
[ $code -eq 0 ] || bad "daemon exit $code after SIGTERM: $(cat "$dir/solo.err")"
grep -q 'TEST CLOCK' "$dir/solo.err" || bad "no test-clock warning"
grep -q 'daemon: stopped' "$dir/solo.err" || bad "no clean stop"
for s in rocksdb fs memory; do
  n=$(grep " store=$s " "$dir/solo.log" | grep -c ' event=start')
  d=$(grep " store=$s " "$dir/solo.log" | grep ' event=start' | sed 's/.* slot=\([^ ]*\) .*/\1/' | sort | uniq -d)
  [ "$n" -ge 3 ] || bad "store $s: $n runs within 60 s (want >= 3)"
  [ -z "$d" ] || bad "store $s: slots run twice: $d"
  echo "store $s: $n slots, each once"
done
grep -q 'store=rocksdb .*task=search' "$dir/solo.log" || bad "no search task"
grep -q 'store=memory .*task=memory .*backend=local' "$dir/solo.log" || bad "no memory task"
grep -q ' failed' "$dir/solo.log" && bad "a task failed: $(grep ' failed' "$dir/solo.log" | head -3)"

[ $fail -eq 0 ] && echo "PASS"
exit $fail
