#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The soak test (tests/soak/test_soak.py) for longer than CI runs it: 10 minutes by default.
# Usage: bench/soak.sh [SECONDS] [RATE]   (run as root for the packet listener; BUILD=build-x to pick a build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
ninja -C "$build" src/sockbridged >/dev/null
SOCKBRIDGED="$build/src/sockbridged" SOCKBRIDGE_SOAK_SECONDS="${1:-600}" SOCKBRIDGE_SOAK_RATE="${2:-200}" \
    PYTHONDONTWRITEBYTECODE=1 python3 tests/soak/test_soak.py
