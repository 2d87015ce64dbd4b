#!/usr/bin/env bash
# The end-to-end comparison of ../shared/BENCHMARKS.md: erpc vs tonic, tarpc and a raw ceiling,
# each case alone, server pinned to core 0 and client to core 1, single-threaded runtimes.
# With THREADS set (benches/multicore.sh), each side instead runs a multi-threaded runtime of
# that many workers, unpinned, once per value of THREADS; a first column names it.
#
#   benches/e2e.sh                  # 1x1 and 4x256 at 512 B, 2 s warm-up, 10 s measured
#   STACKS="raw erpc" CASES="4:256" PAYLOAD=16 SECS=5 benches/e2e.sh
#   THREADS="1 2" CASES="4:256" benches/e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=${STACKS:-"raw erpc tarpc tonic"}
CASES=${CASES:-"1:1 4:256"}
PAYLOAD=${PAYLOAD:-512}
WARMUP=${WARMUP:-2}
SECS=${SECS:-10}
THREADS=${THREADS:-}
cargo build --release -q -p erpc-benches --bin e2e
BIN=target/release/e2e
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
header='stack\tconns\tinflight\tpayload\trps\tp50_us\tp99_us\tp999_us\terrors\n'
if [ -n "$THREADS" ]; then printf "threads\t$header"; else printf "$header"; fi
for threads in ${THREADS:-pinned}; do
  if [ "$threads" = pinned ]; then
    server_cmd=(taskset -c 0 "$BIN"); client_cmd=(taskset -c 1 "$BIN")
  else
    server_cmd=("$BIN" --threads "$threads"); client_cmd=("$BIN" --threads "$threads")
  fi
  for case in $CASES; do
    conns=${case%%:*}; inflight=${case##*:}
    for stack in $STACKS; do
      port=$(free_port)
      "${server_cmd[@]}" server "$stack" "127.0.0.1:$port" & server=$!
      for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
      [ "$threads" = pinned ] || printf '%s\t' "$threads"
      "${client_cmd[@]}" client "$stack" "127.0.0.1:$port" "$conns" "$inflight" "$WARMUP" "$SECS" "$PAYLOAD" || true
      kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
    done
  done
done
