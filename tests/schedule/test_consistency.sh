#!/usr/bin/env bash
# Multi-node consistency (issue 8 item 5): three `mailroom import` processes
# write into the same shared backends at once — PostgreSQL (data and index,
# a schema of its own), Redis (in-memory), one blob store (MinIO when
# MR_TEST_MINIO_* is set and the build has s3, else a shared fs directory) —
# while a `mailroom daemon` purges them under a fast test clock (blob purge
# and data/index purge every 6 s, with old garbage blobs to delete):
#   importer 1: account alice <- sa-spam-2
#   importer 2: account alice <- sa-spam-1  (same account, concurrently)
#   importer 3: account bob   <- sa-spam-2  (same blobs, another account)
# Afterwards (cluster_tool consistency): every email's blob reads back with
# its hash verified, every link names a stored blob and an existing email,
# links = emails, quotas = the distinct linked blobs' sizes, mailbox
# counters = members, totals = sums, and the search index holds exactly the
# data store's emails; the accounts hold what the importers reported; the
# garbage is gone.  Needs MR_TEST_PG_URL and MR_TEST_REDIS_URL, else SKIPPED.
set -u
mr=${1:?usage: test_consistency.sh MAILROOM CLUSTER_TOOL SAMPLE_DIR}
tool=${2:?}
sample=${3:?}
. "$(dirname "$0")/lib.sh"
cluster_skip_unless_servers
[ -d "$sample/sa-spam-2" ] || { echo "FAIL: no sample at $sample"; exit 1; }

GARBAGE=60
GRACE_S=15
cluster_setup consist "20 * *" "0 * *" "${GRACE_S}s"
c="$mr -c $dir/mailroom.toml"

# old garbage for the purger to delete while the imports run
"$tool" blobs "$dir/mailroom.toml" 0 $GARBAGE || { bad "garbage"; exit 1; }
sleep $((GRACE_S + 1))

# scheduler time starts at XX:10 (the daemon takes a few real seconds to
# open its stores), so the blob purge (minute 0) is the first slot, ~5 s in
now=$(date +%s%3N); scale=600
t=$(( (now / 3600000 + 1) * 3600000 - 3000000 )); [ $t -gt $((now + 1000)) ] || t=$((t + 3600000))
epoch=$(( (scale * now - t) / (scale - 1) ))
MAILROOM_TEST_CLOCK_SCALE=$scale MAILROOM_TEST_CLOCK_EPOCH=$epoch TZ=UTC $c daemon --node purger >"$dir/purger.log" 2>"$dir/purger.err" &
dpid=$!; pids+=($dpid)
$c --json import alice "$sample/sa-spam-2" >"$dir/i1.json" 2>"$dir/i1.err" & p1=$!
$c --json import alice "$sample/sa-spam-1" >"$dir/i2.json" 2>"$dir/i2.err" & p2=$!
$c --json import bob "$sample/sa-spam-2" >"$dir/i3.json" 2>"$dir/i3.err" & p3=$!
pids+=($p1 $p2 $p3)
for i in 1 2 3; do
  eval "p=\$p$i"
  wait "$p" || bad "importer $i exited $?: $(tail -3 "$dir/i$i.err")"
done
# Keep importing (re-imports: duplicates, the same pipeline and links) until
# the purger has finished a blob purge while an import runs, at most 180 s:
# on a fast machine the first imports can end before the first slot.
deadline=$(( $(date +%s) + 180 ))
while ! grep ' event=task ' "$dir/purger.log" 2>/dev/null | grep -q ' task=blob ' && [ "$(date +%s)" -lt "$deadline" ]; do
  $c --json import alice "$sample/sa-spam-2" >"$dir/i4.json" 2>"$dir/i4.err" || bad "re-import exited $?: $(tail -3 "$dir/i4.err")"
done
kill -TERM $dpid; wait $dpid || bad "purger exit $?: $(tail -3 "$dir/purger.err")"
pids=()
# one more blob purge now that everything is linked (same code path, same lock)
$c purge --store "$blobs" --now --node after >"$dir/after.log" 2>&1 || bad "purge after the imports: $(cat "$dir/after.log")"
grep -q 'daemon: stopped' "$dir/purger.err" || bad "purger did not stop cleanly"
grep -h 'AddressSanitizer\|runtime error' "$dir"/*.err && bad "sanitizer report"

num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2" | tail -1; }
a1=$(num imported "$dir/i1.json"); a2=$(num imported "$dir/i2.json"); b1=$(num imported "$dir/i3.json")
echo "imported: alice ${a1:-?} + ${a2:-?}, bob ${b1:-?}"
[ -n "$a1" ] && [ -n "$a2" ] && [ -n "$b1" ] && [ "$a1" -gt 0 ] && [ "$b1" -gt 0 ] || bad "import reports: $(cat "$dir"/i?.json)"
runs=$(grep ' event=task ' "$dir/purger.log" | grep -c ' task=blob ')
deleted=$(cat "$dir/purger.log" "$dir/after.log" | grep ' task=blob ' | sed -n 's/.* blobs_deleted=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
echo "purger: $runs blob purges during the imports + 1 after, $deleted blobs deleted (garbage: $GARBAGE)"
[ "$runs" -ge 1 ] || bad "the purger ran no blob purge during the imports"
[ "$deleted" -eq $GARBAGE ] || bad "deleted $deleted blobs, garbage was $GARBAGE (an imported blob deleted?)"
echo "purger runs: $(grep -c ' event=end ' "$dir/purger.log") ($(grep ' event=end ' "$dir/purger.log" | sed 's/.* store=\([^ ]*\) .* ms=\([0-9]*\) .*outcome=\([a-z]*\).*/\1:\2ms:\3/' | tr '\n' ' '))"
cat "$dir/purger.log" "$dir/after.log" | grep -q ' failed' && bad "a purge task failed: $(grep -h ' failed' "$dir/purger.log" "$dir/after.log" | head -3)"

out=$("$tool" consistency "$dir/mailroom.toml" 2>&1); code=$?
echo "$out"
[ $code -eq 0 ] || bad "consistency check"
alice=$(sed -n 's/^account alice: emails=\([0-9]*\).*/\1/p' <<<"$out")
bob=$(sed -n 's/^account bob: emails=\([0-9]*\).*/\1/p' <<<"$out")
[ "${alice:-x}" = "$(( ${a1:-0} + ${a2:-0} ))" ] || bad "alice holds ${alice:-?} emails, importers reported $a1 + $a2"
[ "${bob:-x}" = "${b1:-0}" ] || bad "bob holds ${bob:-?} emails, importer reported $b1"
"$tool" checkblobs "$dir/mailroom.toml" 0 $GARBAGE || bad "garbage left behind"

[ $fail -eq 0 ] && echo "PASS: 3 importers + 1 purger on postgresql + redis + $blob_kind"
exit $fail
