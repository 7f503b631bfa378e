#!/usr/bin/env bash
# Cross-checks the independent SPEC.md reader (reader.py) against a cairn binary.
# Usage, from the repository root:  tests/spec-reader/run.sh PATH_TO_CAIRN_BINARY
set -euo pipefail

fail() { echo "spec-reader: FAIL: $*" >&2; exit 1; }
step() { echo "spec-reader: $*"; }

[ $# -eq 1 ] || { echo "usage: $0 PATH_TO_CAIRN_BINARY" >&2; exit 2; }
cairn=$(realpath "$1")
[ -x "$cairn" ] || fail "$1 is not an executable"
here=$(cd "$(dirname "$0")" && pwd)
reader="$here/reader.py"
cd "$here/../.."                    # the repository root, whatever the caller's directory

# --- Python venv with exactly the four allowed packages (reused once complete) -------
venv=target/spec-reader-venv
packages="blake3 zstandard argon2-cffi pynacl"
if [ "$(cat "$venv/.spec-reader-complete" 2>/dev/null)" != "$packages" ]; then
    step "creating $venv (needs network once)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check $packages
    echo "$packages" > "$venv/.spec-reader-complete"
fi
py="$(cd "$venv" && pwd)/bin/python"   # not realpath: that would leave the venv

# --- scratch space, removed on exit --------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spec-reader.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CAIRN_PASSWORD="spec reader test password"
unset CAIRN_REPOSITORY CAIRN_PASSWORD_FILE CAIRN_PASSWORD_COMMAND
repo="$tmp/repo"
src="$tmp/src"
read_() { "$py" "$reader" "$repo" "$@"; }

# --- source tree ----------------------------------------------------------------------
mkdir -p "$src/sub/deeper"
: > "$src/empty"
head -c 5000000 /dev/urandom > "$src/big.bin"                    # several chunks
for i in $(seq 1 200); do echo "line $i of a compressible text file"; done > "$src/notes.txt"
echo "hello" > "$src/small.txt"
echo "not utf-8" > "$src/name-$(printf '\xff\xfe')-latin1"
echo "private" > "$src/sub/private"
chmod 0600 "$src/sub/private"
echo "deep" > "$src/sub/deeper/file"
ln -s ../small.txt "$src/sub/link"

# --- two backups with the binary under test --------------------------------------------
"$cairn" -r "$repo" init --kdf-memory-kib 64 --kdf-time 1 --kdf-lanes 1 > /dev/null
"$cairn" -r "$repo" backup "$src" > /dev/null
cp -a "$src" "$tmp/src-first"                                   # the first snapshot's state
echo "changed for the second backup" >> "$src/notes.txt"
"$cairn" -r "$repo" backup "$src" --tag spec --tag reader > /dev/null

# --- snapshots: ids (and time, host, tags, paths) in listing order ----------------------
step "snapshots"
"$cairn" -r "$repo" snapshots --json > "$tmp/snapshots.json"
read_ snapshots > "$tmp/snapshots.txt" || fail "reader.py snapshots failed"
"$py" - "$tmp/snapshots.json" "$tmp/snapshots.txt" <<'EOF' || fail "snapshot listings differ"
import json, sys
expected = json.load(open(sys.argv[1]))
got = [l.split(b" ") for l in open(sys.argv[2], "rb").read().splitlines()]
assert [s["id"] for s in expected] == [g[0].decode() for g in got], "ids or their order differ"
for s, g in zip(expected, got):
    assert g[1].decode()[:19] == s["time"][:19], f"time {g[1]} != {s['time']}"
    assert g[2].decode() == s["hostname"], "hostname"
    assert g[3].decode() == (",".join(s["tags"]) or "-"), "tags"
    assert [p.decode() for p in g[4:]] == s["paths"], "paths"
EOF
first=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$tmp/snapshots.json")
latest=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["id"])' "$tmp/snapshots.json")
[ "$first" != "$latest" ] || fail "expected two snapshots"

# --- ls: both print each path's raw bytes, one per line -------------------------------
step "ls $latest"
"$cairn" -r "$repo" ls "$latest" > "$tmp/ls.cairn"
read_ ls "$latest" > "$tmp/ls.reader" || fail "reader.py ls failed"
diff -u "$tmp/ls.cairn" "$tmp/ls.reader" || fail "ls output differs from cairn ls"

# --- cat: the big file, bit-exact --------------------------------------------------------
step "cat /src/big.bin"
read_ cat "$latest" /src/big.bin > "$tmp/big.out" || fail "reader.py cat failed"
cmp "$tmp/big.out" "$src/big.bin" || fail "cat of big.bin differs from the source"

# --- restore both snapshots and compare with the source states ----------------------------
for pair in "$latest:$src" "$first:$tmp/src-first"; do
    id=${pair%%:*} orig=${pair#*:}
    step "restore ${id:0:8}"
    out="$tmp/restore-${id:0:8}"
    read_ restore "$id" "$out" || fail "reader.py restore failed"
    diff -r --no-dereference "$orig" "$out/src" || fail "restored tree differs from the source"
    [ "$(stat -c %a "$out/src/sub/private")" = 600 ] || fail "mode of sub/private is not 0600"
    for f in sub/private notes.txt big.bin; do
        [ "$(stat -c %y "$out/src/$f")" = "$(stat -c %y "$orig/$f")" ] || fail "mtime of $f differs"
    done
done

# --- a recovery code (§4.2.1) opens the repository too --------------------------------
step "recovery code"
code=$("$cairn" -r "$repo" key add --recovery-key --json | "$py" -c 'import json, sys; print(json.load(sys.stdin)["recovery_code"])')
CAIRN_PASSWORD="$code" read_ snapshots > "$tmp/snapshots-by-code.txt" || fail "the recovery code does not open the repository"
cmp -s "$tmp/snapshots.txt" "$tmp/snapshots-by-code.txt" || fail "listing with the recovery code differs"

# --- negative checks: tampering is an error (1), a newer version is "unsupported" (2) ------
step "tampering and unsupported versions"
cp -a "$repo" "$tmp/bad"
find "$tmp/bad/data" -type f -size +1M -exec "$py" -c '
import sys                               # invert the middle byte of every big pack:
with open(sys.argv[1], "r+b") as f:      # it lies inside a sealed chunk of big.bin
    f.seek(f.seek(0, 2) // 2); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 0xFF]))
' {} \;
rc=0; "$py" "$reader" "$tmp/bad" cat "$latest" /src/big.bin > /dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a damaged pack was not reported as an error (exit $rc)"
cp "$repo/config" "$tmp/bad/config.orig" && rm -f "$tmp/bad/config"
{ head -c 7 "$tmp/bad/config.orig"; printf '\x02'; tail -c +9 "$tmp/bad/config.orig"; } > "$tmp/bad/config"
rc=0; "$py" "$reader" "$tmp/bad" snapshots > /dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "config version 2 did not give exit 2 (got $rc)"

# --- the committed test vectors: restored files match format/vectors/expected.json ------
step "format/vectors/repo"
vectors=format/vectors
for id in $("$py" -c 'import json,sys; print(*[s["id"] for s in json.load(open(sys.argv[1]))["snapshots"]])' "$vectors/expected.json"); do
    CAIRN_PASSWORD="cairn test vectors" "$py" "$reader" "$vectors/repo" restore "$id" "$tmp/vectors-$id" \
        || fail "reader.py cannot restore vector snapshot $id"
done
"$py" - "$vectors/expected.json" "$tmp" <<'EOF' || fail "restored vector files differ from expected.json"
import blake3, json, os, sys
files = json.load(open(sys.argv[1]))["files"]
for f in files:
    data = open(os.path.join(sys.argv[2], "vectors-" + f["snapshot"], f["path"].lstrip("/")), "rb").read()
    assert len(data) == f["len"] and blake3.blake3(data).hexdigest() == f["blake3"], f["path"]
assert len(files) >= 6
EOF

step "PASS"
