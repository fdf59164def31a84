#!/usr/bin/env bash
# The smallest build, as an image without systemd would use: no libsystemd (the epoll loop), no
# libpcap, no MQTT, no TLS, no man pages. Builds it in build-minimal and runs the unit, docs and
# integration suites on it; tests that need a left-out feature skip and say why. Also drives the
# SysV/busybox init script (packaging/sysvinit) with busybox's start-stop-daemon.
# $1 receives meson test's output (its summary is counted); exits non-zero on any failure.
set -uo pipefail
out=$1
options=(-Dsystemd=disabled -Dpcap=disabled -Dmqtt=disabled -Dtls=disabled -Dman=disabled)
if [ -f build-minimal/build.ninja ]; then
    setup=(meson setup --reconfigure build-minimal "${options[@]}")
else
    setup=(meson setup build-minimal "${options[@]}")
fi
if ! { "${setup[@]}" >"$out.setup" 2>&1 && ninja -C build-minimal >"$out.build" 2>&1; }; then
    tail -50 "$out.setup" "$out.build" 2>/dev/null
    exit 1
fi
# Nothing of the left-out libraries may be linked in.
if ldd build-minimal/src/sockbridged | grep -E 'libsystemd|libpcap|libmosquitto|libssl'; then
    echo "FAIL: the minimal sockbridged links a left-out library" | tee "$out"
    exit 1
fi
meson test -C build-minimal --suite unit --suite docs --suite integration --suite sysvinit \
    --print-errorlogs 2>&1 | tee "$out"
exit "${PIPESTATUS[0]}"
