#!/usr/bin/env bash
# Rounds of the pinned unary case (benches/e2e.sh's setup: server on core 0, client on core 1,
# single-threaded runtimes, 2 s warm-up, 5 s measured), every stack once per round in turn, so
# a slow minute of this shared VM hits every stack alike; each line adds the CPU time each side
# spent per call over the measured window (µs, from /proc/PID/stat, 10 ms ticks), which moves
# less than throughput when the machine is noisy. Take medians over the rounds.
#
#   benches/cpu_rounds.sh                                          # 5 rounds, 4x256, 512 B
#   ROUNDS=3 CASE=1:1 STACKS="raw erpc tarpc" benches/cpu_rounds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
CASE=${CASE:-4:256}
STACKS=${STACKS:-"raw erpc erpc-metrics erpc-governed erpc-trace1 erpc-trace100 tarpc tonic"}
BIN=${BIN:-target/release/e2e}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p erpc-benches --bin e2e
conns=${CASE%%:*}; inflight=${CASE##*:}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
out=$(mktemp)
printf 'round\tstack\tconns\tinflight\tpayload\trps\tp50_us\tp99_us\tp999_us\terrors\tserver_cpu_us_per_call\tclient_cpu_us_per_call\n'
for round in $(seq "$ROUNDS"); do
  for stack in $STACKS; do
    port=$(free_port)
    taskset -c 0 "$BIN" server "$stack" "127.0.0.1:$port" & server=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    taskset -c 1 "$BIN" client "$stack" "127.0.0.1:$port" "$conns" "$inflight" 2 5 512 > "$out" & client=$!
    # The measured window is 2-7 s after the client starts; sample 2.2-6.7 s, inside it.
    sleep 2.2; s0=$(ticks $server); c0=$(ticks $client)
    sleep 4.5; s1=$(ticks $server); c1=$(ticks $client)
    wait $client || true
    kill $server 2>/dev/null; wait $server 2>/dev/null || true
    rps=$(cut -f5 "$out")
    awk -v round="$round" -v r="$rps" -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v line="$(cat "$out")" \
      'BEGIN { printf "%s\t%s\t%.2f\t%.2f\n", round, line, s * 10000 / (r * 4.5), c * 10000 / (r * 4.5) }'
  done
done
rm -f "$out"
