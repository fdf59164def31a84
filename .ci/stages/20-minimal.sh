#!/usr/bin/env bash
# The smallest builds, as an image without systemd would use: no libsystemd (the epoll loop), no
# libpcap, no MQTT, no TLS, no man pages.
# - build-minimal: those options; the unit, docs, integration and sysvinit suites (tests that need a
#   left-out feature skip and say why), including the SysV/busybox init script
#   (packaging/sysvinit) driven by busybox's start-stop-daemon;
# - build-static: the same features fully static (-Dstatic=full, minsize): its unit and integration
#   suites (names looked up through NSS included), then its stripped size and idle memory
#   (bench/memory_bench.py, printed) with the idle VmRSS held under 3 MiB, issue 6's target.
# $1 receives both meson test outputs and then their summed summary; exits non-zero on any failure.
set -uo pipefail
out=$1
source "$(dirname "$0")/../lib/common.sh"
minimal=(-Dsystemd=disabled -Dpcap=disabled -Dmqtt=disabled -Dtls=disabled -Dman=disabled)
build_failures=0 status=0
ci_apt_install file

# setup_and_build DIR OPTION...: meson setup (or reconfigure) and ninja; the log in $out.DIR.build.
setup_and_build() {
    local dir=$1
    shift
    ci_step "$dir: meson setup + ninja"
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >"$out.$dir.build" 2>&1
    else
        meson setup "$dir" "$@" >"$out.$dir.build" 2>&1
    fi && ninja -C "$dir" >>"$out.$dir.build" 2>&1
    local rc=$?
    ci_step_done
    [ "$rc" = 0 ] || { tail -50 "$out.$dir.build"; build_failures=$(( build_failures + 1 )); status=1; }
    return "$rc"
}

# run_suites DIR SUITE...: meson test, its output in $out.DIR.
run_suites() {
    local dir=$1 suites=() suite
    shift
    for suite in "$@"; do suites+=(--suite "$suite"); done
    ci_step "$dir: meson test $*"
    meson test -C "$dir" "${suites[@]}" --print-errorlogs >"$out.$dir" 2>&1 || status=1
    tail -8 "$out.$dir"
    grep -E '^[ 0-9/]+ .*(FAIL|TIMEOUT)' "$out.$dir"
    ci_step_done
}

if setup_and_build build-minimal "${minimal[@]}"; then
    # Nothing of the left-out libraries may be linked in.
    if ldd build-minimal/src/sockbridged | grep -E 'libsystemd|libpcap|libmosquitto|libssl'; then
        echo "FAIL: the minimal sockbridged links a left-out library"
        build_failures=$(( build_failures + 1 )) status=1
    fi
    run_suites build-minimal unit docs integration sysvinit
fi

if setup_and_build build-static "${minimal[@]}" --buildtype=minsize -Dstatic=full; then
    if ! file build-static/src/sockbridged | grep -q 'statically linked'; then
        echo "FAIL: build-static/src/sockbridged is not statically linked: $(file build-static/src/sockbridged)"
        build_failures=$(( build_failures + 1 )) status=1
    fi
    run_suites build-static unit integration
    ci_step "build-static: stripped size and idle memory"
    bench/memory_bench.py --runs 1 static=build-static/src/sockbridged | tee "$out.memory"
    rss=$(awk -F'|' '$2 ~ /static/ {print $4 + 0}' "$out.memory")
    if [ -z "$rss" ] || ! awk -v rss="$rss" 'BEGIN {exit !(rss < 3.0)}'; then
        echo "FAIL: the static build's idle VmRSS is ${rss:-unknown} MiB, not under 3 MiB"
        build_failures=$(( build_failures + 1 )) status=1
    fi
    ci_step_done
fi

ci_sum_summaries "$out" "$build_failures" "$out.build-minimal" "$out.build-static"
exit "$status"
