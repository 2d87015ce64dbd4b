#!/usr/bin/env bash
# The multi-core figure of issue 18: the unary case with multi-threaded runtimes on both sides,
# nothing pinned (both sides share both cores), erpc vs tarpc vs tonic vs raw, at 1 and 2
# worker threads per side.
#
#   benches/multicore.sh                      # 4x256 at 512 B, threads 1 and 2, 2 s + 10 s
#   STACKS="raw erpc" THREADS="1 2" SECS=5 benches/multicore.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=${STACKS:-"raw erpc tarpc tonic"}
CASES=${CASES:-"4:256"}
THREADS=${THREADS:-"1 2"}
PAYLOAD=${PAYLOAD:-512}
WARMUP=${WARMUP:-2}
SECS=${SECS:-10}
cargo build --release -q -p erpc-benches --bin e2e
BIN=target/release/e2e
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
printf 'threads\tstack\tconns\tinflight\tpayload\trps\tp50_us\tp99_us\tp999_us\terrors\n'
for threads in $THREADS; do
  for case in $CASES; do
    conns=${case%%:*}; inflight=${case##*:}
    for stack in $STACKS; do
      port=$(free_port)
      "$BIN" --threads "$threads" server "$stack" "127.0.0.1:$port" & server=$!
      for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
      printf '%s\t' "$threads"
      "$BIN" --threads "$threads" client "$stack" "127.0.0.1:$port" "$conns" "$inflight" "$WARMUP" "$SECS" "$PAYLOAD" || true
      kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
    done
  done
done
