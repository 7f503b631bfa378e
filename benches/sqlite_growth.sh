#!/usr/bin/env bash
# How much a day of app use costs: repository growth when the app-data corpus advances by one
# `app-day` and by one `spread-1pct` mutation, for cairn's three ways of storing a SQLite
# database (--sqlite-mode auto: the dump; file: the page image; off: the file's bytes) and
# for restic and BorgBackup, measured in one run.
#
# For each (tool, mode): fresh repository, backup of generation 0 (timed), then the mutation
# applied with rsync, backup again (timed); the repository's growth is `du -sb` before and
# after. cairn also restores the second snapshot (timed, checked with benches/same_tree.py:
# integrity_check, schema, settings and every row of the database, every other file byte for
# byte).
#
# Usage: benches/sqlite_growth.sh            (scale 1 = ~1 GB)
#        SCALE=0.1 benches/sqlite_growth.sh
# Needs: python3, rsync, /usr/bin/time, restic, borg (installed from Debian if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALE=${SCALE:-1}
WORK=${WORK:-$ROOT/target/sqlite-growth}
CORPUS_SCRIPT=${CORPUS_SCRIPT:-$ROOT/../shared/corpus/make_corpus.py}
PASSWORD=sqlite-growth-benchmark-password

make_corpora() {
    local base=$WORK/corpus-$SCALE
    if [ ! -e "$base/.done" ]; then
        rm -rf "$base"
        mkdir -p "$base"
        python3 "$CORPUS_SCRIPT" --out "$base/g0" --gen 0 --scale "$SCALE" >/dev/null
        cp -a "$base/g0" "$base/app-day"
        python3 "$CORPUS_SCRIPT" --out "$base/app-day" --gen 1 --mode app-day --schema-change no > "$base/app-day.json"
        cp -a "$base/g0" "$base/spread-1pct"
        python3 "$CORPUS_SCRIPT" --out "$base/spread-1pct" --gen 1 --mode spread-1pct > "$base/spread-1pct.json"
        touch "$base/.done"
    fi
    CORPUS=$base
}

# run VARIANT MODE STEP REPO COMMAND...: times COMMAND, records wall s, peak KiB, repo growth.
run() {
    local variant=$1 mode=$2 step=$3 repo=$4
    shift 4
    local before after
    before=$(du -sb "$repo" 2>/dev/null | cut -f1 || echo 0)
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/stderr.out" || {
        echo "$variant $mode $step failed:" >&2
        cat "$WORK/stderr.out" >&2
        exit 1
    }
    after=$(du -sb "$repo" | cut -f1)
    read -r wall rss < "$WORK/time.out"
    echo "$variant,$mode,$step,$wall,$rss,$((after - before))" >> "$WORK/results.csv"
}

bench() {
    local variant=$1 mode=$2
    local repo=$WORK/repo src=$WORK/src/data target=$WORK/restore
    rm -rf "$repo" "$WORK/src" "$target" "$WORK/borg-home"
    mkdir -p "$WORK/src" "$target"
    cp -a "$CORPUS/g0" "$src"
    case $variant in
        cairn-*)
            export CAIRN_PASSWORD=$PASSWORD CAIRN_SQLITE_MODE=${variant#cairn-}
            local c=$ROOT/target/release/cairn
            "$c" -r "$repo" init >/dev/null
            run "$variant" "$mode" first "$repo" "$c" -r "$repo" backup -q "$src"
            rsync -a --delete "$CORPUS/$mode/" "$src/"
            run "$variant" "$mode" day "$repo" "$c" -r "$repo" backup -q "$src"
            run "$variant" "$mode" restore "$target" "$c" -r "$repo" restore latest -q --target "$target"
            "$ROOT/benches/same_tree.py" "$src" "$target/data"
            ;;
        restic)
            export RESTIC_PASSWORD=$PASSWORD
            restic -r "$repo" init >/dev/null
            run restic "$mode" first "$repo" restic -r "$repo" backup -q "$src"
            rsync -a --delete "$CORPUS/$mode/" "$src/"
            run restic "$mode" day "$repo" restic -r "$repo" backup -q "$src"
            ;;
        borg)
            export BORG_PASSPHRASE=$PASSWORD BORG_BASE_DIR=$WORK/borg-home
            borg init -e repokey "$repo"
            run borg "$mode" first "$repo" borg create "$repo::g0" "$src"
            rsync -a --delete "$CORPUS/$mode/" "$src/"
            run borg "$mode" day "$repo" borg create "$repo::g1" "$src"
            ;;
    esac
}

main() {
    mkdir -p "$WORK"
    cargo build --release --locked --quiet
    make_corpora
    echo "variant,mode,step,wall_s,peak_rss_kib,repo_growth_bytes" > "$WORK/results.csv"
    {
        echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "corpus: scale $SCALE; app-day: $(cat "$CORPUS/app-day.json")"
        echo "spread-1pct: $(cat "$CORPUS/spread-1pct.json")"
    } | tee "$WORK/machine.txt"
    for mode in app-day spread-1pct; do
        for variant in cairn-auto cairn-file cairn-off restic borg; do
            bench "$variant" "$mode"
        done
    done
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/machine.txt"
    python3 - "$WORK/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
get = lambda v, m, s, f: next((float(r[f]) for r in rows if (r["variant"], r["mode"], r["step"]) == (v, m, s)), float("nan"))
variants = ["cairn-auto", "cairn-file", "cairn-off", "restic", "borg"]
print("\n| variant | first backup s | growth MB | app-day backup s | app-day growth MB | spread-1pct backup s | spread-1pct growth MB | restore s (app-day) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for v in variants:
    print(f"| {v} | {get(v, 'app-day', 'first', 'wall_s'):.2f} | {get(v, 'app-day', 'first', 'repo_growth_bytes') / 1e6:.1f} | "
          f"{get(v, 'app-day', 'day', 'wall_s'):.2f} | {get(v, 'app-day', 'day', 'repo_growth_bytes') / 1e6:.1f} | "
          f"{get(v, 'spread-1pct', 'day', 'wall_s'):.2f} | {get(v, 'spread-1pct', 'day', 'repo_growth_bytes') / 1e6:.1f} | "
          f"{get(v, 'app-day', 'restore', 'wall_s'):.2f} |")
PY
}

main "$@"
