#!/usr/bin/env bash
# erpc over every transport, measured as benches/e2e.sh measures stacks (closed loop, server
# pinned to core 0 and client to core 1, single-threaded runtimes, each case alone): the 1x1
# and 4x256 unary cases at 512 B on every transport, and 1 MiB bodies (1 connection, 4 in
# flight) on tcp, quic and ws. mem:// does not cross processes: its server runs on a thread
# of the client's process (both cores).
#
#   benches/transports.sh
#   TRANSPORTS="tcp quic" SECS=5 benches/transports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TRANSPORTS=${TRANSPORTS:-"tcp unix mem tls ws wss quic udp kcp"}
LARGE=${LARGE:-"tcp quic ws"}
WARMUP=${WARMUP:-2}
SECS=${SECS:-5}
cargo build --release -q -p erpc-benches --bin e2e
BIN=target/release/e2e
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # transport conns inflight payload
  local t=$1 port
  port=$(free_port)
  if [ "$t" = mem ]; then
    taskset -c 0,1 "$BIN" both "erpc:$t" "127.0.0.1:$port" "$2" "$3" "$WARMUP" "$SECS" "$4" || true
    return
  fi
  taskset -c 0 "$BIN" server "erpc:$t" "127.0.0.1:$port" & local server=$!
  # UDP-based servers cannot be probed with a TCP connect: give every server a moment.
  sleep 1
  taskset -c 1 "$BIN" client "erpc:$t" "127.0.0.1:$port" "$2" "$3" "$WARMUP" "$SECS" "$4" || true
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
}

printf 'stack\tconns\tinflight\tpayload\trps\tp50_us\tp99_us\tp999_us\terrors\n'
for case in 1:1 4:256; do
  for t in $TRANSPORTS; do run "$t" "${case%%:*}" "${case##*:}" 512; done
done
for t in $LARGE; do run "$t" 1 4 1048576; done
