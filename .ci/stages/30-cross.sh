#!/usr/bin/env bash
# arm64: cross-builds with Debian's cross toolchain (crossbuild-essential-arm64) and
# packaging/cross/aarch64-linux-gnu.ini, then runs the unit suite under qemu-user (meson's
# exe_wrapper). The arm64 -dev packages go into an extracted sysroot (mmdebstrap, cached under
# /var/cache/sockbridge-ci) rather than onto this system: libyaml-cpp-dev is not co-installable
# (Multi-Arch: no), and installing libyaml-cpp-dev:arm64 would remove the native one.
# $1 receives meson test's output (its summary is counted); exits non-zero on any failure.
set -uo pipefail
out=$1
source "$(dirname "$0")/../lib/common.sh"
cache=/var/cache/sockbridge-ci
sysroot=$cache/sysroot-arm64
# The target's libraries the build links and the tests run with (arch: all headers included).
sysroot_packages=libc6-dev,libstdc++-12-dev,libyaml-cpp-dev,libfmt-dev,libcli11-dev,nlohmann-json3-dev,libsystemd-dev,libpcap-dev,libgtest-dev,libgmock-dev,libmosquitto-dev,libssl-dev

(
    ci_step "cross toolchain, qemu-user, mmdebstrap"
    ci_apt_install crossbuild-essential-arm64 qemu-user-static mmdebstrap ccache
    ci_step "arm64 sysroot ($sysroot)"
    if [ "$(cat "$sysroot.packages" 2>/dev/null)" != "$sysroot_packages" ]; then
        mirror=$(ci_debian_mirror)
        rm -rf "$sysroot" && mkdir -p "$cache"
        mmdebstrap --quiet --variant=extract --architectures=arm64 --include="$sysroot_packages" bookworm \
            "$sysroot" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
            "deb ${mirror%/debian*}/debian-security bookworm-security main" \
            && echo "$sysroot_packages" >"$sysroot.packages"
    fi
    # This machine's paths: where the sysroot is, and ccache in front of the cross compiler.
    mkdir -p build-arm64
    printf "[constants]\nsysroot = '%s'\n" "$sysroot" >build-arm64.sysroot.ini
    printf "[binaries]\ncpp = ['ccache', 'aarch64-linux-gnu-g++']\n" >build-arm64.ccache.ini
    ci_step "meson setup + ninja (cross)"
    if [ ! -f build-arm64/build.ninja ]; then
        meson setup --cross-file build-arm64.sysroot.ini --cross-file packaging/cross/aarch64-linux-gnu.ini \
            --cross-file build-arm64.ccache.ini -Dman=disabled build-arm64
    fi && ninja -C build-arm64 && file build-arm64/src/sockbridged
    status=$?
    ci_step_done
    exit $status
) >"$out.build" 2>&1 || { tail -60 "$out.build"; exit 1; }
grep '^== ' "$out.build"
meson test -C build-arm64 --suite unit --suite docs --print-errorlogs 2>&1 | tee "$out"
exit "${PIPESTATUS[0]}"
