#!/usr/bin/env bash
# The integration suite again, on the plain epoll implementation of the event-loop interface.
# Contract of every .ci/stages script: $1 is a file that receives meson test's output (its summary
# is counted); exit non-zero on any failure.
set -uo pipefail
SOCKBRIDGE_LOOP=epoll meson test -C build --suite integration --print-errorlogs 2>&1 | tee "$1"
exit "${PIPESTATUS[0]}"
