#!/usr/bin/env bash
# The end-to-end comparison of ../shared/BENCHMARKS.md: erpc vs tonic, tarpc and a raw ceiling,
# each case alone, server pinned to core 0 and client to core 1, single-threaded runtimes.
#
#   benches/e2e.sh                  # 1x1 and 4x256 at 512 B, 2 s warm-up, 10 s measured
#   STACKS="raw erpc" CASES="4:256" PAYLOAD=16 SECS=5 benches/e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=${STACKS:-"raw erpc tarpc tonic"}
CASES=${CASES:-"1:1 4:256"}
PAYLOAD=${PAYLOAD:-512}
WARMUP=${WARMUP:-2}
SECS=${SECS:-10}
cargo build --release -q -p erpc-benches --bin e2e
BIN=target/release/e2e
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
printf 'stack\tconns\tinflight\tpayload\trps\tp50_us\tp99_us\tp999_us\terrors\n'
for case in $CASES; do
  conns=${case%%:*}; inflight=${case##*:}
  for stack in $STACKS; do
    port=$(free_port)
    taskset -c 0 "$BIN" server "$stack" "127.0.0.1:$port" & server=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    taskset -c 1 "$BIN" client "$stack" "127.0.0.1:$port" "$conns" "$inflight" "$WARMUP" "$SECS" "$PAYLOAD" || true
    kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  done
done
