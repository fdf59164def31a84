#!/usr/bin/env bash
# Installs what sockbridge needs from Debian 12 (apt-get), then configures and builds it in build/.
# --tests also installs what the test suites need. Prints each stage's duration.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

packages=(meson ninja-build g++ pkg-config libsystemd-dev libyaml-cpp-dev libfmt-dev libcli11-dev
          nlohmann-json3-dev libpcap-dev libssl-dev libmosquitto-dev)
if [ "$with_tests" = 1 ]; then
    packages+=(libgtest-dev libgmock-dev python3 iproute2 socat netcat-openbsd procps tcpdump
               tshark qemu-system-x86 busybox-static kmod cpio can-utils xz-utils zstd python3-can
               openssl util-linux python3-kconfiglib scdoc lowdown mosquitto mosquitto-clients)
fi

stage() { printf '== %s\n' "$*"; stage_start=$(date +%s); }
stage_done() { printf '== done in %ss\n' "$(( $(date +%s) - stage_start ))"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

stage "install packages"
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    # tshark's package asks whether non-root users may capture: answer no, without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "all ${#packages[@]} packages already installed"
fi
stage_done

stage "configure and build"
if [ -f build/build.ninja ]; then
    meson setup --reconfigure build
else
    meson setup build
fi
ninja -C build
stage_done

cat <<'MSG'

Built build/src/sockbridged. With the default config (config/sockbridge.yaml) running, try it:
  terminal 1:  socat -u UDP-RECV:7001,bind=127.0.0.1 -        # what the bridge forwards
  terminal 2:  echo hello | nc -q1 127.0.0.1 7000              # a line into the TCP listener
  and read the log: tail -f /tmp/sockbridge/traffic.jsonl
MSG
