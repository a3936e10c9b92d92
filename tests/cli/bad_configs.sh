#!/usr/bin/env bash
# Runs `mailroom config check` on every tests/cli/bad-configs/*.toml: each
# must exit 2 and print the message its first line names ("# expect: ...",
# which includes file:line and the key).  Then checks good configurations.
set -u
mr=$1
dir=$(cd "$(dirname "$0")" && pwd)
pass=0
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$dir/bad-configs"
for f in *.toml; do
  want=$(head -n 1 "$f" | sed -n 's/^# expect: //p')
  err=$("$mr" config check -c "$f" 2>&1 >/dev/null)
  code=$?
  if [ "$code" -eq 2 ] && [ -n "$want" ] && grep -qF -- "$want" <<<"$err"; then
    pass=$((pass + 1))
  else
    echo "FAIL $f: exit $code, stderr: $err" >&2
    echo "     expected exit 2 and: $want" >&2
    fail=$((fail + 1))
  fi
done

# a config that `init` wrote passes, and `init` refuses to overwrite it
if "$mr" init "$work/node" >/dev/null && "$mr" config check -c "$work/node/mailroom.toml" >/dev/null; then
  pass=$((pass + 1))
else
  echo "FAIL init output does not pass config check" >&2; fail=$((fail + 1))
fi
if ! "$mr" init "$work/node" 2>/dev/null; [ "$("$mr" init "$work/node" >/dev/null 2>&1; echo $?)" -eq 2 ]; then
  pass=$((pass + 1))
else
  echo "FAIL init overwrote or did not exit 2" >&2; fail=$((fail + 1))
fi
if [ "$(stat -c %a "$work/node/data")" = 700 ] && [ "$(stat -c %a "$work/node/mailroom.toml")" = 600 ]; then
  pass=$((pass + 1))
else
  echo "FAIL init modes: data $(stat -c %a "$work/node/data"), config $(stat -c %a "$work/node/mailroom.toml")" >&2; fail=$((fail + 1))
fi
# the config file is found through $MAILROOM_CONFIG, then ./mailroom.toml
if MAILROOM_CONFIG="$work/node/mailroom.toml" "$mr" config check >/dev/null && (cd "$work/node" && "$mr" config check >/dev/null); then
  pass=$((pass + 1))
else
  echo "FAIL config lookup via MAILROOM_CONFIG / ./mailroom.toml" >&2; fail=$((fail + 1))
fi
# unknown keys warn (file:line and key) but pass; secrets are redacted
cat > "$work/warn.toml" <<'TOML'
[storage]
data = "db"
[store.db]
type = "sqlite"
path = "/tmp/mr-cli-test.sqlite"
password = "%{env:MR_CLI_TEST_SECRET}%"
colour = "blue"
TOML
out=$(MR_CLI_TEST_SECRET=hunter2 "$mr" config check -c "$work/warn.toml" 2>&1)
if [ $? -eq 0 ] && grep -qF "warn.toml:7: store.db.colour: unknown key" <<<"$out" && ! grep -q hunter2 <<<"$out" && grep -q "<redacted>" <<<"$out"; then
  pass=$((pass + 1))
else
  echo "FAIL warning/redaction: $out" >&2; fail=$((fail + 1))
fi
out=$(MR_CLI_TEST_SECRET=hunter2 "$mr" --json config check -c "$work/warn.toml" 2>/dev/null)
if grep -q '"roles":{"data":{"store":"db","type":"sqlite"}' <<<"$out" && ! grep -q hunter2 <<<"$out"; then
  pass=$((pass + 1))
else
  echo "FAIL --json: $out" >&2; fail=$((fail + 1))
fi
# a configuration naming every store type passes (types not built yet only warn)
cat > "$work/all.toml" <<'TOML'
[storage]
data = "rocks"
blob = "s3"
fts = "es"
lookup = "redis"
[store.rocks]
type = "rocksdb"
path = "/tmp/mr-cli-all/rocks"
[store.lite]
type = "sqlite"
path = "/tmp/mr-cli-all/db.sqlite"
[store.pg]
type = "postgresql"
url = "postgresql://mr:secret@127.0.0.1:5432/mailroom"
pool.max-connections = 4
[store.my]
type = "mysql"
host = "127.0.0.1"
port = 3306
database = "mailroom"
[store.files]
type = "fs"
path = "/tmp/mr-cli-all/blobs"
depth = 2
[store.s3]
type = "s3"
bucket = "mail"
endpoint = "http://127.0.0.1:9000"
region = "us-east-1"
access-key = "ak"
secret-key = "sk"
[store.redis]
type = "redis"
urls = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002"]
redis-type = "cluster"
[store.mem]
type = "local"
max-memory = "64MiB"
[store.es]
type = "elasticsearch"
url = "http://127.0.0.1:9200"
[store.meili]
type = "meilisearch"
url = "http://127.0.0.1:7700"
api-key = "key"
TOML
out=$("$mr" config check -c "$work/all.toml" 2>&1); code=$?
if [ $code -eq 0 ] && [ "$(grep -c ' -> store ' <<<"$out")" -eq 4 ] && [ "$(grep -cE '^  [a-z0-9]+ \(' <<<"$out")" -eq 10 ] && ! grep -qE 'mr:secret@|"(ak|sk|key)"' <<<"$out"; then
  pass=$((pass + 1))
else
  echo "FAIL every store type: exit $code: $out" >&2; fail=$((fail + 1))
fi
# a missing configuration file is exit 2 with the path
out=$("$mr" config check -c "$work/none.toml" 2>&1); code=$?
if [ $code -eq 2 ] && grep -qF "$work/none.toml" <<<"$out"; then pass=$((pass + 1)); else echo "FAIL missing file: $code $out" >&2; fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
