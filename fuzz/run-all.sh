#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 40) on the stable toolchain, starting from
# the committed seed corpora (fuzz/seeds/<target>/), and fails on the first crash.
# Usage: fuzz/run-all.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-40}
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
# -s none: no sanitizer, which needs nightly; the decoders are safe Rust.
cargo fuzz build -s none

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    if ! cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed: the input is in fuzz/artifacts/$target/;" \
            "fix the bug and add the input to format/tests/regressions/$target/" >&2
        exit 1
    fi
    execs=$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $target: $execs executions in $seconds s, no crash"
done
