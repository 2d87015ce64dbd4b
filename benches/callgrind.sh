#!/usr/bin/env bash
# Instructions per unary call (client + server, in-memory transport, one thread) for plain
# erpc and each observed stack, counted by callgrind: deterministic, so it can run while the
# machine is busy, unlike the wall-clock figures. Each stack runs at two call counts; the
# difference divided by the difference in calls cancels start-up and set-up.
#
#   benches/callgrind.sh                       # plain, erpc-metrics, erpc-trace0, erpc-trace1, erpc-trace100 at 512 B
#   STACKS="plain erpc-metrics" PAYLOAD=16 benches/callgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=${STACKS:-"plain erpc-metrics erpc-trace0 erpc-trace1 erpc-trace100"}
PAYLOAD=${PAYLOAD:-512}
LOW=${LOW:-2000}
HIGH=${HIGH:-12000}
cargo build --release -q -p erpc-benches --bin allocs
BIN=${CARGO_TARGET_DIR:-target}/release/allocs
instructions() { # STACK CALLS -> Ir of the whole run
  local observed=$1; [ "$observed" = plain ] && observed=
  CALLS=$2 OBSERVED=$observed valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$BIN" "$PAYLOAD" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf 'stack\tinstructions_per_call\tallocations_per_call\n'
for stack in $STACKS; do
  low=$(instructions "$stack" "$LOW")
  high=$(instructions "$stack" "$HIGH")
  observed=$stack; [ "$observed" = plain ] && observed=
  allocs=$(OBSERVED=$observed "$BIN" "$PAYLOAD" | sed -n 's/.*: \([0-9.]*\) allocations.*/\1/p')
  # Warm-up is CALLS/10, so the two runs differ by 1.1 × (HIGH - LOW) calls.
  printf '%s\t%s\t%s\n' "$stack" $(( (high - low) * 10 / (11 * (HIGH - LOW)) )) "$allocs"
done
