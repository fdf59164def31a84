#!/usr/bin/env bash
# Benchmark scripts still run (not their figures: benchmarks are not tests): one short round of the
# relay and idle benchmarks on loopback, each must print its table. Takes ~30 s.
# Contract of every .ci/stages script: $1 receives the output; exit non-zero on any failure.
set -uo pipefail
{
    set -e
    ninja -C build bench/blast src/sockbridged
    bench/relay_bench.py --sockbridged build/src/sockbridged --blast build/bench/blast --runs 1 \
        --tcp-bytes 67108864 --udp-count 20000 --steady-seconds 2 | grep -q "UDP->UDP relay, 64-byte datagrams delivered"
    bench/idle_bench.py --sockbridged build/src/sockbridged --runs 1 --idle-seconds 2 | grep -q "^| socat |"
    echo "bench smoke: relay_bench and idle_bench printed their tables"
} 2>&1 | tee "$1"
exit "${PIPESTATUS[0]}"
