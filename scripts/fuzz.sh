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
# regression test in the crate it points at (RELIABILITY.md row 4), and copy it into
# fuzz/seeds/TARGET/: `cargo test -p erpc-fuzz-checks` (so CI) runs every seed through the
# same invariant the target checks (in fuzz-checks/src/).
#
# The first run builds every target (about 24 minutes on a 2-core machine; later runs reuse
# fuzz/target). An unknown TARGET is refused (exit 2, naming the known ones) before anything
# is built. The build resolves with fuzz/Cargo.lock as committed (checked with `cargo
# metadata --locked`, as `cargo fuzz build` passes no --locked on): when a dependency of the
# main workspace changes, refresh it with
#   cp Cargo.lock fuzz/Cargo.lock && cargo metadata --format-version 1 --manifest-path fuzz/Cargo.toml > /dev/null
# (it keeps the main workspace's versions) and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
}
if [ $# -eq 0 ]; then
    seconds=60
else
    seconds="$1"
    shift
fi
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "scripts/fuzz.sh: SECONDS must be a whole number of seconds above 0, not '$seconds'" >&2
    usage
fi
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version > /dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
mapfile -t known < <(cargo fuzz list)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${known[@]}")
fi
for t in "${targets[@]}"; do
    if ! printf '%s\n' "${known[@]}" | grep -qxF -- "$t"; then
        echo "scripts/fuzz.sh: no fuzz target '$t'; the targets are: ${known[*]}" >&2
        usage
    fi
done
if ! cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml > /dev/null; then
    echo "scripts/fuzz.sh: fuzz/Cargo.lock is out of date; refresh it as this script's header says" >&2
    exit 2
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
