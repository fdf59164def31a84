#!/bin/bash
# Prepare the SocketCAN test VM: host packages, Debian kernel, initramfs.
# Usage: tests/vm/prepare.sh CACHE_DIR
# Idempotent: the cache is keyed on the kernel version and on the content of
# this script and of tests/vm/init, so a second run only does a few look-ups.
# On success writes CACHE_DIR/current.env (KERNEL=..., INITRD=..., KVER=...).
set -euo pipefail

die() { echo "prepare.sh: error: $*" >&2; exit 1; }
log() { echo "prepare.sh: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: $0 CACHE_DIR"
here=$(cd "$(dirname "$0")" && pwd)
cache=$1
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Modules for the guest, in addition to whatever they depend on.
MODULES="virtio_pci 9pnet_virtio 9p vcan vxcan can_raw can_bcm can_gw can_isotp can_j1939 veth tun overlay"

# 1. Host packages.
need=()
for p in qemu-system-x86 busybox-static kmod cpio can-utils iproute2 xz-utils zstd; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if (( ${#need[@]} )); then
    [[ $EUID -eq 0 ]] || die "missing packages (${need[*]}); run as root or install them"
    log "installing ${need[*]}"
    apt-get -q update >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends "${need[@]}" >&2 \
        || die "apt-get install ${need[*]} failed (try apt-get update)"
fi

# One prepare at a time per cache dir.
exec 9>"$cache/.lock"
flock 9

# 2. Kernel: the package linux-image-amd64 currently depends on.
resolve_kernel() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1
}
kpkg=$(resolve_kernel)
if [[ -z $kpkg && $EUID -eq 0 ]]; then
    apt-get -q update >&2 || die "apt-get update failed"
    kpkg=$(resolve_kernel)
fi
[[ -n $kpkg ]] || die "cannot resolve linux-image-amd64 (apt-get update needed?)"
kver=${kpkg#linux-image-}
kdir=$cache/$kver
kernel=$kdir/root/boot/vmlinuz-$kver
if [[ ! -f $kdir/.unpacked ]]; then
    log "fetching $kpkg"
    rm -rf "$kdir"
    mkdir -p "$kdir/root"
    (cd "$kdir" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" >&2) || die "apt-get download $kpkg failed"
    dpkg-deb -x "$kdir"/"$kpkg"_*.deb "$kdir/root"
    rm -f "$kdir"/"$kpkg"_*.deb
    depmod -b "$kdir/root" "$kver"
    touch "$kdir/.unpacked"
fi
[[ -f $kernel ]] || die "no kernel image at $kernel"

# 3. Initramfs: busybox + /init + modules (decompressed, numbered in load order).
key=$(cat "$0" "$here/init" | sha256sum | cut -c1-12)
initrd=$kdir/initrd-$key.img
if [[ ! -f $initrd ]]; then
    log "building initramfs for $kver"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp"/{bin,dev,proc,sys,newroot,modules}
    cp /bin/busybox "$tmp/bin/busybox"
    ln -s busybox "$tmp/bin/sh"
    install -m 0755 "$here/init" "$tmp/init"
    n=0
    declare -A seen=()
    for m in $MODULES; do
        deps=$(modprobe -d "$kdir/root" -S "$kver" --show-depends "$m") || die "module $m not found"
        while read -r cmd path _; do
            [[ $cmd == insmod && -z ${seen[$path]:-} ]] || continue
            seen[$path]=1
            name=$(basename "$path"); name=${name%%.ko*}
            out=$(printf '%s/modules/%02d-%s.ko' "$tmp" "$n" "$name")
            n=$((n + 1))
            case $path in
                *.ko.xz)  xz -dc "$path" >"$out" ;;
                *.ko.zst) zstd -qdc "$path" >"$out" ;;
                *.ko.gz)  gzip -dc "$path" >"$out" ;;
                *.ko)     cp "$path" "$out" ;;
                *) die "unexpected module file $path" ;;
            esac
        done <<<"$deps"
    done
    (cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 >"$initrd.part"
    mv "$initrd.part" "$initrd"
    find "$kdir" -maxdepth 1 -name 'initrd-*.img' ! -name "initrd-$key.img" -delete
    log "initramfs: $initrd ($n modules)"
fi

printf 'KVER=%q\nKERNEL=%q\nINITRD=%q\n' "$kver" "$kernel" "$initrd" >"$cache/current.env.part"
mv "$cache/current.env.part" "$cache/current.env"
cat "$cache/current.env"
