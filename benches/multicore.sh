#!/usr/bin/env bash
# The multi-core figure of issue 18: the unary case with multi-threaded runtimes on both sides,
# nothing pinned (both sides share both cores), erpc vs tarpc vs tonic vs raw, at 1 and 2
# worker threads per side (benches/e2e.sh with THREADS set).
#
#   benches/multicore.sh                      # 4x256 at 512 B, threads 1 and 2, 2 s + 10 s
#   STACKS="raw erpc" THREADS="1 2" SECS=5 benches/multicore.sh
THREADS=${THREADS:-"1 2"} CASES=${CASES:-"4:256"} exec "$(dirname "$0")/e2e.sh"
