#!/usr/bin/env bash
# Cross builds: arm64 and armhf (32-bit) with Debian's cross toolchains (crossbuild-essential-*) and
# packaging/cross/*.ini; the unit tests run under qemu-user (meson's exe_wrapper), arm64's docs
# tests too. Each target's -dev packages go into an extracted sysroot (mmdebstrap, cached under
# /var/cache/sockbridge-ci) rather than onto this system: libyaml-cpp-dev is not co-installable
# (Multi-Arch: no), and installing libyaml-cpp-dev:arm64 would remove the native one.
# $1 receives both meson test outputs and then their summed summary (counted by .ci/run); exits
# non-zero on any failure.
set -uo pipefail
out=$1
source "$(dirname "$0")/../lib/common.sh"
cache=/var/cache/sockbridge-ci
# The target's libraries the build links and the tests run with (arch: all headers included).
sysroot_packages=libc6-dev,libstdc++-12-dev,libyaml-cpp-dev,libfmt-dev,libcli11-dev,nlohmann-json3-dev,libsystemd-dev,libpcap-dev,libgtest-dev,libgmock-dev,libmosquitto-dev,libssl-dev

# extract_sysroot ARCH DIR SOURCE...: the target's packages unpacked into DIR.
extract_sysroot() {
    local arch=$1 dir=$2
    shift 2
    rm -rf "$dir" && mkdir -p "$cache"
    mmdebstrap --quiet --variant=extract --architectures="$arch" --include="$sysroot_packages" bookworm "$dir" "$@"
}

# cross_build ARCH TRIPLET: sysroot, meson setup and ninja in build-ARCH; its log in $out.ARCH.build.
cross_build() {
    local arch=$1 triplet=$2 sysroot=$cache/sysroot-$1
    (
        ci_step "$arch sysroot ($sysroot)"
        if [ "$(cat "$sysroot.packages" 2>/dev/null)" != "$sysroot_packages" ]; then
            local mirror
            mirror=$(ci_debian_mirror)
            local sources=("deb $mirror bookworm main" "deb $mirror bookworm-updates main")
            # With the security updates when that mirror's index is whole; a mirror caught mid-sync
            # ("File has unexpected size") falls back to the point release, the same headers and ABI.
            extract_sysroot "$arch" "$sysroot" "${sources[@]}" "deb ${mirror%/debian*}/debian-security bookworm-security main" \
                || { echo "security index unusable: $arch sysroot without bookworm-security"; \
                     extract_sysroot "$arch" "$sysroot" "${sources[@]}"; } \
                && echo "$sysroot_packages" >"$sysroot.packages"
        fi
        # This machine's paths: where the sysroot is, and ccache in front of the cross compiler.
        printf "[constants]\nsysroot = '%s'\n" "$sysroot" >"build-$arch.sysroot.ini"
        printf "[binaries]\ncpp = ['ccache', '%s-g++']\n" "$triplet" >"build-$arch.ccache.ini"
        ci_step "$arch: meson setup + ninja (cross)"
        if [ ! -f "build-$arch/build.ninja" ]; then
            meson setup --cross-file "build-$arch.sysroot.ini" --cross-file "packaging/cross/$triplet.ini" \
                --cross-file "build-$arch.ccache.ini" -Dman=disabled "build-$arch"
        fi && ninja -C "build-$arch" && file "build-$arch/src/sockbridged"
        local status=$?
        ci_step_done
        exit $status
    ) >"$out.$arch.build" 2>&1 || { tail -60 "$out.$arch.build"; return 1; }
    grep '^== ' "$out.$arch.build"
}

# cross_test ARCH SUITE...: meson test under qemu-user, its output in $out.ARCH.
cross_test() {
    local arch=$1 suites=() suite
    shift
    for suite in "$@"; do suites+=(--suite "$suite"); done
    ci_step "$arch: meson test ${*} (qemu-user)"
    meson test -C "build-$arch" "${suites[@]}" --print-errorlogs >"$out.$arch" 2>&1
    local status=$?
    tail -12 "$out.$arch"
    [ "$status" = 0 ] || grep -E '^[ 0-9/]+ .*(FAIL|TIMEOUT)' "$out.$arch"
    ci_step_done
    return "$status"
}

build_failures=0
ci_step "cross toolchains, qemu-user, mmdebstrap"
ci_apt_install crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user-static mmdebstrap ccache file
ci_step_done
status=0
if cross_build arm64 aarch64-linux-gnu; then
    cross_test arm64 unit docs || status=1
else
    status=1 build_failures=$(( build_failures + 1 ))
fi
# armhf: 32-bit (32-bit size_t, long and time_t); the unit tests only, to keep the stage short.
if cross_build armhf arm-linux-gnueabihf; then
    cross_test armhf unit || status=1
else
    status=1 build_failures=$(( build_failures + 1 ))
fi
ci_sum_summaries "$out" "$build_failures" "$out.arm64" "$out.armhf"
exit "$status"
