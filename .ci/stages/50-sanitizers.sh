#!/usr/bin/env bash
# Address and undefined-behaviour sanitizers over the unit suite.
set -uo pipefail
out=$1
if ! { meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >"$out.setup" 2>&1 \
        && ninja -C build-asan >"$out.build" 2>&1; }; then
    tail -50 "$out.setup" "$out.build" 2>/dev/null
    exit 1
fi
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --suite unit --print-errorlogs 2>&1 | tee "$out"
exit "${PIPESTATUS[0]}"
