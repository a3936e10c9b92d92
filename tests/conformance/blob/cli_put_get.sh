#!/bin/sh
# `mailroom blob put/get` on an fs blob store: the id equals b3sum's, a
# second put finds the blob (dedup), get -o round-trips byte-exact, a bit
# flipped in the stored file is detected (exit 1, output file removed),
# a malformed id is a usage error (exit 2); `blob upload` reserves for an
# account (stat shows it), `blob stat` prints sizes, links, reservations.
set -u
bin="$1"
command -v b3sum >/dev/null 2>&1 || { echo "SKIPPED: b3sum not installed (apt-get install b3sum)"; exit 77; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL $*"; exit 1; }
printf '[storage]\ndata = "d"\nblob = "b"\n[store."d"]\ntype = "rocksdb"\npath = "%s/db"\n[store."b"]\ntype = "fs"\npath = "%s/blobs"\ndepth = 2\n' "$d" "$d" > "$d/m.toml"
head -c 300000 /dev/urandom > "$d/in"
id=$("$bin" -c "$d/m.toml" blob put "$d/in") || fail "put"
[ "$id" = "$(b3sum --no-names "$d/in")" ] || fail "id $id differs from b3sum"
"$bin" -c "$d/m.toml" --json blob put "$d/in" | grep -q '"existed":true' || fail "second put did not find the blob"
[ "$(find "$d/blobs" -type f | wc -l)" -eq 1 ] || fail "blob stored more than once"
"$bin" -c "$d/m.toml" blob get "$id" -o "$d/out" || fail "get"
cmp -s "$d/in" "$d/out" || fail "get returned different bytes"
f=$(find "$d/blobs" -type f)
python3 -c "import sys;p=sys.argv[1];b=bytearray(open(p,'rb').read());b[1000]^=1;open(p,'wb').write(b)" "$f"
"$bin" -c "$d/m.toml" blob get "$id" -o "$d/out2" 2>"$d/err"; rc=$?
[ $rc -eq 1 ] || fail "corrupt blob: exit $rc, expected 1"
grep -q 'do not hash to the id' "$d/err" || fail "corrupt blob: message: $(cat "$d/err")"
[ ! -e "$d/out2" ] || fail "corrupt blob: output file left behind"
"$bin" -c "$d/m.toml" blob get xyz 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "malformed id: exit $rc, expected 2"
echo "ok   put/get/dedup/bit-flip/bad-id"

# stat and upload (a temporary upload: a reservation charged to the account)
head -c 5000 /dev/urandom > "$d/up"
uid=$("$bin" -c "$d/m.toml" blob upload 42 "$d/up" --ttl 3600) || fail "upload"
[ "$uid" = "$(b3sum --no-names "$d/up")" ] || fail "upload id differs from b3sum"
st=$("$bin" -c "$d/m.toml" --json blob stat "$uid") || fail "stat"
echo "$st" | grep -q '"size":5000' || fail "stat size: $st"
echo "$st" | grep -q '"reservations":1' || fail "stat reservations: $st"
echo "$st" | grep -q '"links":0' || fail "stat links: $st"
"$bin" -c "$d/m.toml" blob stat "$uid" | grep -q '^stored size: 5000$' || fail "stat text"
"$bin" -c "$d/m.toml" blob upload 42 "$d/up" --ttl 0 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "--ttl 0: exit $rc, expected 2"
"$bin" -c "$d/m.toml" blob upload abc "$d/up" --ttl 10 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "bad account: exit $rc, expected 2"
"$bin" -c "$d/m.toml" blob stat "$(printf '%064d' 0)" 2>"$d/err"; rc=$?
[ $rc -eq 1 ] || fail "stat of a missing blob: exit $rc, expected 1"
grep -q 'no such blob' "$d/err" || fail "stat of a missing blob: $(cat "$d/err")"
"$bin" -c "$d/m.toml" blob put "$d/nonexistent" 2>"$d/err"; rc=$?
[ $rc -eq 1 ] || fail "put of a missing file: exit $rc, expected 1"
grep -q 'nonexistent' "$d/err" || fail "put of a missing file: $(cat "$d/err")"
echo "ok   stat/upload"
