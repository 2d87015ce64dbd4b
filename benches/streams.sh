#!/usr/bin/env bash
# Stream throughput, erpc vs tonic: messages echoed through one bidirectional stream, server
# pinned to core 0 and client to core 1, single-threaded runtimes.
#
#   benches/streams.sh                        # 64 B x 1,000,000 and 1 MiB x 1,000
#   STACKS=erpc CASES="64:200000" benches/streams.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=${STACKS:-"erpc tonic"}
CASES=${CASES:-"64:1000000 1048576:1000"}
cargo build --release -q -p erpc-benches --bin e2e --bin streams
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
printf 'stack\tpayload\tmessages\tseconds\tmsgs_per_s\tMB_per_s\n'
for case in $CASES; do
  payload=${case%%:*}; count=${case##*:}
  for stack in $STACKS; do
    port=$(free_port)
    taskset -c 0 target/release/e2e server "$stack" "127.0.0.1:$port" & server=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    taskset -c 1 target/release/streams "$stack" "127.0.0.1:$port" "$count" "$payload" || true
    kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  done
done
