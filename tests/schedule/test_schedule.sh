#!/usr/bin/env bash
# `mailroom schedule next`: output forms (--count, --utc, --json), --from
# forms (local, Z, offsets), week-days, DST in Europe/Berlin, and the
# usage/validation errors (exit 2 with the field or option named).
set -u
mr=${1:?usage: test_schedule.sh PATH-TO-mailroom}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*" >&2; fail=$((fail + 1)); }
check() { # name expected-stdout command...
  local name=$1 want=$2; shift 2
  local got code
  got=$("$@" 2>/tmp/mr-sched-err.$$ | tr '\n' ' '); code=${PIPESTATUS[0]}
  if [ "$code" -eq 0 ] && [ "$got" = "$want" ]; then ok; else bad "$name: exit $code, got '$got' want '$want' $(cat /tmp/mr-sched-err.$$)"; fi
}
check_err() { # name expected-exit stderr-substring command...
  local name=$1 want=$2 needle=$3; shift 3
  local out code
  out=$("$@" 2>&1 >/dev/null); code=$?
  if [ "$code" -eq "$want" ] && grep -qF -- "$needle" <<<"$out"; then ok; else bad "$name: exit $code (want $want), stderr '$out' (want '$needle')"; fi
}
U="env TZ=UTC $mr"
B="env TZ=Europe/Berlin $mr"

# defaults: one line, local time with offset
check default-one "2026-11-24T05:30:00+00:00 " $U schedule next "30 5 *" --from 2026-11-23T06:00
check count-3 "2026-11-23T06:30:00+00:00 2026-11-24T06:30:00+00:00 2026-11-25T06:30:00+00:00 " \
  $U schedule next "30 6 *" --from 2026-11-23T06:00 --count 3
check from-seconds "2026-11-23T06:31:00Z " $U schedule next "31 * *" --from 2026-11-23T06:30:59Z --utc
check from-exact-is-excluded "2026-11-24T06:30:00Z " $U schedule next "30 6 *" --from 2026-11-23T06:30:00Z --utc
check from-offset-plus "2026-11-23T05:00:00Z " $U schedule next "0 * *" --from 2026-11-23T06:30+02:00 --utc
check from-offset-minus "2026-11-23T09:00:00Z " $U schedule next "0 * *" --from 2026-11-23T03:30-05:00 --utc
check from-space "2026-11-23T07:00:00Z " $U schedule next "0 * *" --from "2026-11-23 06:30" --utc
# week-days: 2026-11-23 is a Monday
check monday "2026-11-30T03:00:00Z " $U schedule next "0 3 1" --from 2026-11-23T04:00Z --utc
check wednesday "2026-11-25T03:00:00Z 2026-12-02T03:00:00Z " $U schedule next "0 3 3" --from 2026-11-23T04:00Z --utc --count 2
check sunday "2026-11-29T00:00:00Z 2026-11-29T01:00:00Z " $U schedule next "0 * 7" --from 2026-11-23T04:00Z --utc --count 2
check year-end "2027-01-01T00:00:00Z " $U schedule next "0 0 *" --from 2026-12-31T00:00Z --utc
check leap-day "2028-02-29T12:00:00Z 2028-03-01T12:00:00Z " $U schedule next "0 12 *" --from 2028-02-28T13:00Z --utc --count 2
# Berlin DST: the skipped 02:30 fires once at 03:30 CEST; the repeated one once (CEST)
check berlin-gap "2026-03-29T03:30:00+02:00 2026-03-30T02:30:00+02:00 " $B schedule next "30 2 *" --from 2026-03-28T12:00 --count 2
check berlin-gap-utc "2026-03-29T01:30:00Z " $B schedule next "30 2 *" --from 2026-03-28T12:00 --utc
check berlin-repeat "2026-10-25T02:30:00+02:00 2026-10-26T02:30:00+01:00 " $B schedule next "30 2 *" --from 2026-10-24T12:00 --count 2
check berlin-repeat-hourly "2026-10-25T01:30:00+02:00 2026-10-25T02:30:00+02:00 2026-10-25T03:30:00+01:00 " \
  $B schedule next "30 * *" --from 2026-10-25T01:00 --count 3
check berlin-from-in-gap "2026-03-29T03:30:00+02:00 " $B schedule next "30 * *" --from 2026-03-29T02:10
check berlin-from-utc "2026-03-29T01:30:00Z " $B schedule next "30 * *" --from 2026-03-29T01:00Z --utc
# --json: an array (global option before or after the command)
check json-array '["2026-11-24T05:30:00Z","2026-11-25T05:30:00Z"] ' $U --json schedule next "30 5 *" --from 2026-11-23T06:00Z --utc --count 2
check json-after '["2026-11-24T05:30:00+00:00"] ' $U schedule next "30 5 *" --from 2026-11-23T06:00Z --json
n=$($U schedule next "0 * *" --from 2026-01-01T00:00Z --count 1000 | sort -u | wc -l)
if [ "$n" -eq 1000 ]; then ok; else bad "count-1000: $n distinct lines"; fi

# errors: exit 2, message naming the field or option
check_err minute-range 2 'cron "61 5 *": minute: 61 is out of range 0-59' $U schedule next "61 5 *"
check_err hour-range 2 'hour: 24 is out of range 0-23 or *' $U schedule next "0 24 *"
check_err wday-range 2 'day-of-week: 8 is out of range 1-7 (Monday-Sunday) or *' $U schedule next "0 1 8"
check_err fields 2 'expected 3 fields' $U schedule next "0 1"
check_err fields-4 2 'found 4' $U schedule next "0 1 * *"
check_err no-expr 2 'usage: mailroom schedule next' $U schedule next
check_err two-exprs 2 'usage: mailroom schedule next' $U schedule next "0 1 *" "0 2 *"
check_err from-word 2 '--from "yesterday"' $U schedule next "0 1 *" --from yesterday
check_err from-feb30 2 'day 30 is out of range 1-28' $U schedule next "0 1 *" --from 2026-02-30T00:00
check_err from-hour 2 'hour 25 is out of range 0-23' $U schedule next "0 1 *" --from 2026-02-03T25:00
check_err from-offset 2 '--from "2026-02-03T05:00+0200"' $U schedule next "0 1 *" --from 2026-02-03T05:00+0200
check_err from-trailing 2 '--from "2026-02-03T05:00Zx"' $U schedule next "0 1 *" --from 2026-02-03T05:00Zx
check_err from-missing 2 '--from: missing value' $U schedule next "0 1 *" --from
check_err count-zero 2 '--count "0"' $U schedule next "0 1 *" --count 0
check_err count-word 2 '--count "x"' $U schedule next "0 1 *" --count x
check_err unknown-opt 2 'unknown option --every' $U schedule next "0 1 *" --every
check_err no-sub 2 'mailroom schedule list' $U schedule
check_err bad-sub 2 'mailroom schedule next' $U schedule later

rm -f /tmp/mr-sched-err.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
