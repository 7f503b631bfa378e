#!/usr/bin/env bash
# cairn vs restic vs BorgBackup, side by side in one run, on the app-data corpus.
#
# For each tool and round: fresh repository; first backup of generation 0; backup after the
# corpus's `app-day` mutation (generation 1); a backup with no change; restore of the latest
# snapshot into an empty directory (checked with benches/same_tree.py, not timed: files
# byte for byte, SQLite databases by content, since cairn rebuilds them); backup of generation 2;
# forget keeping the last 1 of the 4 snapshots, then prune (borg: prune + compact), as in
# ../shared/bench/RESULTS.md. Each step records wall
# time and peak RSS (/usr/bin/time), and the repository's growth (du). Everything is warm in
# the page cache, as in ../shared/bench/RESULTS.md, so these are CPU and pipeline figures.
#
# Usage: benches/compare.sh            (scale 1 = ~1 GB, 3 rounds)
#        SCALE=0.1 ROUNDS=1 benches/compare.sh
# Needs: python3, rsync, /usr/bin/time; installs restic and borgbackup from Debian if missing.
# Writes raw rows to $WORK/results.csv and prints a Markdown table of medians.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALE=${SCALE:-1}
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-$ROOT/target/compare}
CORPUS_SCRIPT=${CORPUS_SCRIPT:-$ROOT/../shared/corpus/make_corpus.py}
PASSWORD=compare-benchmark-password

install_peers() {
    local missing=()
    command -v restic >/dev/null || missing+=(restic)
    command -v borg >/dev/null || missing+=(borgbackup)
    command -v rsync >/dev/null || missing+=(rsync)
    [ -x /usr/bin/time ] || missing+=(time)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    fi
}

make_corpus() {
    local g0=$WORK/corpus-$SCALE/g0 g1=$WORK/corpus-$SCALE/g1 g2=$WORK/corpus-$SCALE/g2
    if [ ! -e "$WORK/corpus-$SCALE/.done" ]; then
        rm -rf "$WORK/corpus-$SCALE"
        python3 "$CORPUS_SCRIPT" --out "$g0" --gen 0 --scale "$SCALE" >/dev/null
        cp -a "$g0" "$g1"
        python3 "$CORPUS_SCRIPT" --out "$g1" --gen 1 --mode app-day --schema-change no > "$WORK/corpus-$SCALE/gen1.json"
        touch "$WORK/corpus-$SCALE/.done"
    fi
    if [ ! -e "$WORK/corpus-$SCALE/.done-g2" ]; then
        rm -rf "$g2"
        cp -a "$g1" "$g2"
        python3 "$CORPUS_SCRIPT" --out "$g2" --gen 2 --mode app-day --schema-change no > "$WORK/corpus-$SCALE/gen2.json"
        touch "$WORK/corpus-$SCALE/.done-g2"
    fi
    G0=$g0
    G1=$g1
    G2=$g2
}

# run TOOL ROUND STEP REPO COMMAND...: times COMMAND, records wall s, peak KiB, repo growth.
run() {
    local tool=$1 round=$2 step=$3 repo=$4
    shift 4
    local before after
    before=$(du -sb "$repo" 2>/dev/null | cut -f1 || echo 0)
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/stderr.out" || {
        echo "$tool $step failed:" >&2
        cat "$WORK/stderr.out" >&2
        exit 1
    }
    after=$(du -sb "$repo" | cut -f1)
    read -r wall rss < "$WORK/time.out"
    echo "$tool,$round,$step,$wall,$rss,$((after - before))" >> "$WORK/results.csv"
}

bench_tool() {
    local tool=$1 round=$2
    local repo=$WORK/repo-$tool src=$WORK/src/data target=$WORK/restore-$tool
    rm -rf "$repo" "$WORK/src" "$target"
    mkdir -p "$WORK/src" "$target"
    cp -a "$G0" "$src"
    case $tool in
        cairn)
            export CAIRN_PASSWORD=$PASSWORD
            local c=$ROOT/target/release/cairn
            run cairn "$round" init "$repo" "$c" -r "$repo" init
            run cairn "$round" backup-gen0 "$repo" "$c" -r "$repo" backup -q "$src"
            rsync -a --delete "$G1/" "$src/"
            run cairn "$round" backup-app-day "$repo" "$c" -r "$repo" backup -q "$src"
            run cairn "$round" backup-no-change "$repo" "$c" -r "$repo" backup -q "$src"
            run cairn "$round" restore "$target" "$c" -r "$repo" restore latest -q --target "$target"
            "$ROOT/benches/same_tree.py" "$src" "$target/data"
            rsync -a --delete "$G2/" "$src/"
            run cairn "$round" backup-gen2 "$repo" "$c" -r "$repo" backup -q "$src"
            run cairn "$round" forget-prune "$repo" "$c" -r "$repo" forget -q --keep-last 1 --prune
            ;;
        restic)
            export RESTIC_PASSWORD=$PASSWORD
            run restic "$round" init "$repo" restic -r "$repo" init
            run restic "$round" backup-gen0 "$repo" restic -r "$repo" backup -q "$src"
            rsync -a --delete "$G1/" "$src/"
            run restic "$round" backup-app-day "$repo" restic -r "$repo" backup -q "$src"
            run restic "$round" backup-no-change "$repo" restic -r "$repo" backup -q "$src"
            run restic "$round" restore "$target" restic -r "$repo" restore latest -q --target "$target"
            "$ROOT/benches/same_tree.py" "$src" "$target$src"
            rsync -a --delete "$G2/" "$src/"
            run restic "$round" backup-gen2 "$repo" restic -r "$repo" backup -q "$src"
            run restic "$round" forget-prune "$repo" restic -r "$repo" forget -q --keep-last 1 --prune
            ;;
        borg)
            export BORG_PASSPHRASE=$PASSWORD BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
            export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_BASE_DIR=$WORK/borg-home
            rm -rf "$BORG_BASE_DIR"
            run borg "$round" init "$repo" borg init -e repokey "$repo"
            run borg "$round" backup-gen0 "$repo" borg create "$repo::g0" "$src"
            rsync -a --delete "$G1/" "$src/"
            run borg "$round" backup-app-day "$repo" borg create "$repo::g1" "$src"
            run borg "$round" backup-no-change "$repo" borg create "$repo::g1b" "$src"
            (cd "$target" && run borg "$round" restore "$target" borg extract "$repo::g1b")
            "$ROOT/benches/same_tree.py" "$src" "$target$src"
            rsync -a --delete "$G2/" "$src/"
            run borg "$round" backup-gen2 "$repo" borg create "$repo::g2" "$src"
            run borg "$round" forget-prune "$repo" bash -c "borg prune --keep-last 1 '$repo' && borg compact '$repo'"
            ;;
    esac
}

main() {
    mkdir -p "$WORK"
    install_peers
    cargo build --release --locked --quiet
    make_corpus
    echo "tool,round,step,wall_s,peak_rss_kib,repo_growth_bytes" > "$WORK/results.csv"
    {
        echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
        echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "versions: $("$ROOT/target/release/cairn" --version); $(restic version | cut -d' ' -f1-2); $(borg --version)"
        echo "corpus: scale $SCALE, $(du -sb "$G0" | cut -f1) bytes; app-day: $(cat "$WORK/corpus-$SCALE/gen1.json")"
    } | tee "$WORK/machine.txt"
    for round in $(seq 1 "$ROUNDS"); do
        for tool in cairn restic borg; do
            bench_tool "$tool" "$round"
        done
    done
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/machine.txt"
    python3 - "$WORK/results.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
steps = ["init", "backup-gen0", "backup-app-day", "backup-no-change", "restore", "backup-gen2", "forget-prune"]
tools = ["cairn", "restic", "borg"]
def median(tool, step, field):
    values = [float(r[field]) for r in rows if r["tool"] == tool and r["step"] == step]
    return statistics.median(values) if values else float("nan")
print("\n| step | " + " | ".join(f"{t} s" for t in tools) + " | " + " | ".join(f"{t} peak RSS MiB" for t in tools) + " |")
print("|---|" + "---:|" * (2 * len(tools)))
for step in steps:
    walls = [f"{median(t, step, 'wall_s'):.2f}" for t in tools]
    rss = [f"{median(t, step, 'peak_rss_kib') / 1024:.0f}" for t in tools]
    print(f"| {step} | " + " | ".join(walls) + " | " + " | ".join(rss) + " |")
print("\n| repository growth (MB) | " + " | ".join(tools) + " |")
print("|---|" + "---:|" * len(tools))
for step in ["backup-gen0", "backup-app-day", "backup-no-change", "backup-gen2", "forget-prune"]:
    print(f"| {step} | " + " | ".join(f"{median(t, step, 'repo_growth_bytes') / 1e6:.1f}" for t in tools) + " |")
PY
}

main "$@"
