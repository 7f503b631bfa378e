#!/usr/bin/env bash
# A 1 GB backup (the scale-1 app corpus, generation 0) to each storage backend that runs on
# this machine: a local directory, S3 (moto) and WebDAV (rclone) on loopback, and the fake
# Google Drive of the tests (tests/integration/fake_drive.rs, served by an ignored test). Records wall
# time, throughput and peak RSS (/usr/bin/time) of `cairn backup`, then the resume figure:
# a backup killed with SIGKILL once about half the corpus is stored, run again, and how many
# bytes the re-run stored beyond what an uninterrupted backup stores.
#
# Usage: benches/backends.sh     (needs the corpus from benches/compare.sh, or builds it)
# Loopback servers measure cairn's pipeline and memory, not a network: moto keeps objects in
# RAM and answers in microseconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-$ROOT/target/compare}
CORPUS=${CORPUS:-$WORK/corpus-1/g0}
CORPUS_SCRIPT=${CORPUS_SCRIPT:-$ROOT/../shared/corpus/make_corpus.py}
export CAIRN_PASSWORD=backends-benchmark-password

if [ ! -d "$CORPUS" ]; then
    python3 "$CORPUS_SCRIPT" --out "$CORPUS" --gen 0 --scale 1 >/dev/null
fi
cargo build --release --locked --quiet --bin cairn
CAIRN=$ROOT/target/release/cairn
source .ci/servers.sh
ci_install_servers
ci_start_servers
export AWS_ACCESS_KEY_ID=$CAIRN_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$CAIRN_TEST_S3_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=$CAIRN_TEST_S3_REGION
export CAIRN_WEBDAV_USERNAME=$CAIRN_TEST_WEBDAV_USERNAME CAIRN_WEBDAV_PASSWORD=$CAIRN_TEST_WEBDAV_PASSWORD
export XDG_CACHE_HOME=$WORK/backends-cache
mkdir -p "$WORK"
trap 'ci_stop_servers; pkill -f gdrive_fake_serve || true' EXIT
# The fake Drive, in its own process: an ignored test that serves until killed.
cargo test --quiet --locked --test integration gdrive_fake_serve -- --ignored --nocapture \
    > "$WORK/fake-drive.out" 2>&1 &
CI_SERVER_PIDS+=($!)
until grep -q '^CAIRN_GDRIVE_ENDPOINT=' "$WORK/fake-drive.out" 2>/dev/null; do sleep 0.5; done
export "$(grep -m1 '^CAIRN_GDRIVE_ENDPOINT=' "$WORK/fake-drive.out")" CAIRN_GDRIVE_ACCESS_TOKEN=fake-drive-token
corpus_bytes=$(du -sb "$CORPUS" | cut -f1)
echo "corpus: $corpus_bytes bytes; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

location() {  # location BACKEND NAME
    case $1 in
        local) echo "$WORK/backends/$2" ;;
        s3) echo "s3:$CAIRN_TEST_S3_ENDPOINT/$CAIRN_TEST_S3_BUCKET/$2" ;;
        webdav) echo "webdav:$CAIRN_TEST_WEBDAV_ENDPOINT/$2" ;;
        gdrive) echo "gdrive:/$2" ;;
    esac
}

files_bytes() {  # the bytes of the files under a directory
    find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'
}

stored_bytes() {  # stored_bytes BACKEND NAME: the bytes under the repository's data/, indexed or not
    case $1 in
        local) files_bytes "$WORK/backends/$2/data" ;;
        webdav) files_bytes "$CI_SERVERS_DIR/dav/$2/data" ;;
        s3) target/ci-moto/bin/python - "$2" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["CAIRN_TEST_S3_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
total = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="cairn-test", Prefix=sys.argv[1] + "/data/"):
    total += sum(o["Size"] for o in page.get("Contents", []))
print(total)
PY
        ;;
    esac
}

init() {
    "$CAIRN" -r "$1" init --kdf-memory-kib 65536 --kdf-time 3 --kdf-lanes 1 >/dev/null
}

rm -rf "$WORK/backends" "$XDG_CACHE_HOME"
mkdir -p "$WORK/backends"
printf '| backend | backup of %s MB | throughput | peak RSS |\n|---|---:|---:|---:|\n' $((corpus_bytes / 1000000))
for backend in local s3 webdav gdrive; do
    repo=$(location $backend "full-$RANDOM")
    init "$repo"
    /usr/bin/time -f '%e %M' -o "$WORK/backends/time" "$CAIRN" -r "$repo" backup --quiet "$CORPUS"
    read -r seconds rss_kib < "$WORK/backends/time"
    python3 -c "print(f'| $backend | {$seconds:.2f} s | {$corpus_bytes/$seconds/1e6:.0f} MB/s | {$rss_kib/1024:.0f} MiB |')"
done

echo
printf '| backend | stored when killed | reused by the re-run | stored again |\n|---|---:|---:|---:|\n'
for backend in local s3 webdav; do
    clean_name="clean-$RANDOM"
    clean=$(location $backend "$clean_name")
    init "$clean"
    "$CAIRN" -r "$clean" backup --quiet "$CORPUS"
    needed=$(stored_bytes $backend "$clean_name")
    name="resume-$RANDOM"
    repo=$(location $backend "$name")
    init "$repo"
    "$CAIRN" -r "$repo" backup --quiet --limit-upload 51200 "$CORPUS" &
    pid=$!
    while [ "$(stored_bytes $backend "$name")" -lt $((needed / 2)) ]; do sleep 0.2; done
    kill -9 $pid
    wait $pid 2>/dev/null || true
    before=$(stored_bytes $backend "$name")
    reused=$("$CAIRN" -r "$repo" backup --json "$CORPUS" | tail -1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["resumed_bytes"])')
    after=$(stored_bytes $backend "$name")
    python3 -c "print(f'| $backend | {$before/1e6:.0f} MB | {$reused/1e6:.0f} MB | {max(0, $after - $needed)/1e6:.1f} MB ({max(0, $after - $needed)*100/$before:.2f} %) |')"
done
