#!/usr/bin/env bash
# Run every fuzz target in fuzz/ for SECONDS each (default 60), one at a time, and print
# per target: executions per second, total executions, and the crashing inputs it wrote
# (fuzz/artifacts/TARGET/crash-*, oom-*, timeout-*, leak-*), or "error N" when the fuzzer
# stopped with exit status N and wrote none (a build or harness failure). Needs cargo-fuzz
# (installed here when missing); runs on stable through RUSTC_BOOTSTRAP, without a
# sanitizer (-s none) and with debug assertions and overflow checks (-a).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Seeds come from fuzz/seeds/TARGET (committed, small); what the fuzzer finds goes to
# fuzz/corpus/TARGET (not committed), so later runs start from it. A crashing input is
# written to fuzz/artifacts/TARGET/ and makes the script exit non-zero; turn it into a
# regression test in the crate it points at (RELIABILITY.md row 4).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "scripts/fuzz.sh: SECONDS must be a whole number of seconds above 0, not '$seconds'" >&2
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version > /dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none -a >&2
failed=0
printf '%-18s %12s %14s %8s\n' target execs/s 'total execs' crashes
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/artifacts/$t"
    log="$(mktemp)"
    stamp="$(mktemp)"
    status=0
    cargo fuzz run -s none -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
        > "$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    # The inputs this run wrote (newer than its start), not those of earlier runs.
    found="$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' \
        -o -name 'timeout-*' -o -name 'leak-*' \) -newer "$stamp" | wc -l)"
    crashes="$found"
    if [ "$found" -gt 0 ] || [ "$status" -ne 0 ]; then
        failed=1
        grep -E 'Test unit written to|panicked at|ERROR' "$log" | head -3 >&2 || tail -20 "$log" >&2
        [ "$found" -eq 0 ] && crashes="error $status"
    fi
    printf '%-18s %12s %14s %8s\n' "$t" "${rate:-?}" "${execs:-?}" "$crashes"
    rm -f "$log" "$stamp"
done
exit "$failed"
