#!/usr/bin/env bash
# `mailroom schedule next` in UTC and in Europe/Berlin across both DST
# changes, and its errors.
set -u
mr=$1
pass=0
fail=0
check() { # name expected command...
  local name=$1 want=$2; shift 2
  local got; got=$("$@" 2>&1 | tr '\n' ' ')
  if [ "$got" = "$want" ]; then pass=$((pass + 1)); else echo "FAIL $name: got '$got' want '$want'" >&2; fail=$((fail + 1)); fi
}
check utc-daily "2026-11-24T05:30:00Z 2026-11-25T05:30:00Z " env TZ=UTC "$mr" schedule next "30 5 *" --from 2026-11-23T06:00:00Z --count 2 --utc
check utc-weekly-sunday "2026-11-29T05:30:00+00:00 2026-12-06T05:30:00+00:00 " env TZ=UTC "$mr" schedule next "30 5 7" --from 2026-11-23T06:00 --count 2
check utc-hourly "2026-11-23T06:15:00Z 2026-11-23T07:15:00Z 2026-11-23T08:15:00Z " env TZ=UTC "$mr" schedule next "15 * *" --from 2026-11-23T06:00Z --count 3 --utc
check berlin-spring-gap "2026-03-29T03:30:00+02:00 2026-03-30T02:30:00+02:00 " env TZ=Europe/Berlin "$mr" schedule next "30 2 *" --from 2026-03-28T12:00 --count 2
check berlin-autumn-once "2026-10-25T02:30:00+02:00 2026-10-26T02:30:00+01:00 " env TZ=Europe/Berlin "$mr" schedule next "30 2 *" --from 2026-10-24T12:00 --count 2
check berlin-autumn-hourly "2026-10-25T01:00:00+02:00 2026-10-25T02:00:00+02:00 2026-10-25T03:00:00+01:00 " env TZ=Europe/Berlin "$mr" schedule next "0 * *" --from 2026-10-25T00:30 --count 3
check berlin-spring-hourly-utc "2026-03-29T00:00:00Z 2026-03-29T01:00:00Z 2026-03-29T02:00:00Z " env TZ=Europe/Berlin "$mr" schedule next "0 * *" --from 2026-03-29T00:30 --count 3 --utc
check json '["2026-11-24T05:30:00Z"] ' env TZ=UTC "$mr" --json schedule next "30 5 *" --from 2026-11-23T06:00Z --utc
for bad in "60 5 *" "5 24 *" "5 5 8" "5 5 0" "* 5 *" "5 5" "5 5 * *" "a b c" "-1 5 *" ""; do
  out=$("$mr" schedule next "$bad" 2>&1); code=$?
  if [ $code -eq 2 ] && grep -q "cron" <<<"$out"; then pass=$((pass + 1)); else echo "FAIL bad '$bad': $code $out" >&2; fail=$((fail + 1)); fi
done
out=$("$mr" schedule next "0 3 *" --from yesterday 2>&1); code=$?
if [ $code -eq 2 ] && grep -q -- "--from" <<<"$out"; then pass=$((pass + 1)); else echo "FAIL bad --from: $code $out" >&2; fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
