#!/usr/bin/env bash
# The Debian package: builds it (dpkg-buildpackage, nocheck), runs lintian (no errors allowed),
# installs, upgrades, removes and purges it in a clean bookworm root (debootstrap minbase) and
# checks that purge leaves nothing behind; then, under a real systemd in the test VM, that an
# upgrade restarts the daemon only on a config that passes --check. Runs no meson tests: its log
# goes to $1; exits non-zero on any failure.
set -euo pipefail
out=$1
exec > >(tee "$out") 2>&1
source "$(dirname "$0")/../lib/common.sh"
src=$(pwd)
# Inside the source tree (ignored as build*): the VM sees the host's files, not its /tmp.
work=$src/build-deb
root=$work/root
cache=/var/cache/sockbridge-ci
cleanup() {
    for m in proc dev; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
    return 0
}
trap cleanup EXIT

ci_step "install packaging tools and build dependencies"
ci_apt_install debhelper lintian debootstrap dpkg-dev fakeroot qemu-system-x86
rm -rf "$work"; mkdir -p "$work/src"
# The checked-out tree (tracked and new files), not the developer's build directories.
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -x -C "$work/src"
(cd "$work/src" && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 build-dep -y -qq \
    --no-install-recommends . >/dev/null)

ci_step "dpkg-buildpackage -us -uc -b (nocheck)"
(cd "$work/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) \
    || { tail -40 "$work/build.log"; exit 1; }
deb=$(ls "$work"/sockbridge_*_amd64.deb)
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -c "$deb" | awk '{print $6}'

ci_step "lintian"
lintian_status=0
lintian --fail-on error --display-level '>=warning' "$deb" >"$work/lintian.txt" 2>&1 || lintian_status=$?
grep -v 'running with root privileges' "$work/lintian.txt" || true
echo "lintian exit status $lintian_status"
[ "$lintian_status" = 0 ]

ci_step "upgrade packages: the same payload as versions +1, +2, +3"
# Upgrades run every maintainer script path (prerm upgrade, postinst configure OLD-VERSION).
debs=("$deb")
for n in 1 2 3; do
    rm -rf "$work/repack"; dpkg-deb -R "$deb" "$work/repack"
    sed -i "s/^Version: .*/Version: $version+ci$n/" "$work/repack/DEBIAN/control"
    dpkg-deb -Zgzip -b "$work/repack" "$work/sockbridge_${version}+ci${n}_amd64.deb" >/dev/null
    debs+=("$work/sockbridge_${version}+ci${n}_amd64.deb")
done

ci_step "clean root: debootstrap --variant=minbase bookworm"
mirror=$(ci_debian_mirror)
mkdir -p "$cache"
tarball=$cache/bookworm-minbase.tar
if [ ! -s "$tarball" ]; then
    debootstrap --variant=minbase bookworm "$work/bootstrap" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; exit 1; }
    tar -C "$work/bootstrap" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
    rm -rf "$work/bootstrap"
fi
mkdir -p "$root"; tar -C "$root" -xf "$tarball"
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"; mount --rbind /dev "$root/dev"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
for i in 0 1 2 3; do cp "${debs[$i]}" "$root/tmp/sockbridge-$i.deb"; done

ci_step "the package's dependencies (apt-get satisfy), then a snapshot of the root"
in_root apt-get -qq update
in_root apt-get -qq -y --no-install-recommends satisfy "$(dpkg-deb -f "$deb" Depends)" >/dev/null
# Every path with its type, mode and owner; apt's and dpkg's own records change by design.
snapshot() {
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./var/lib/dpkg \
        -o -path ./var/lib/apt -o -path ./var/cache -o -path ./var/log \) -prune -o -printf '%p %y %m %u:%g\n' \
        | sort)
}
snapshot >"$work/before.txt"
# Content too for the files that matter (the user database may gain the sockbridge user: see below).
(cd "$root/etc" && find . -type f ! -name 'passwd*' ! -name 'group*' ! -name 'shadow*' ! -name 'gshadow*' \
    ! -name ld.so.cache -print0 | sort -z | xargs -0 md5sum) >"$work/before.md5"

ci_step "install, check, upgrade, remove, purge"
in_root dpkg -i /tmp/sockbridge-0.deb >/dev/null
in_root dpkg-query -W -f='${Conffiles}\n' sockbridge | grep -q '/etc/sockbridge/sockbridge.yaml' \
    || { echo "FAIL: /etc/sockbridge/sockbridge.yaml is not a conffile"; exit 1; }
in_root /usr/sbin/sockbridged --check --config /etc/sockbridge/sockbridge.yaml
in_root /usr/bin/sockbridgectl check /etc/sockbridge/sockbridge.yaml
in_root id sockbridge
for f in /usr/share/man/man8/sockbridged.8.gz /usr/share/man/man1/sockbridgectl.1.gz \
        /usr/share/man/man5/sockbridge.yaml.5.gz /lib/systemd/system/sockbridge.service \
        /usr/lib/sysusers.d/sockbridge.conf /usr/lib/tmpfiles.d/sockbridge.conf \
        /usr/share/doc/sockbridge/examples/tcp-fanout.yaml; do
    [ -s "$root$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
[ "$(in_root stat -c %U /var/log/sockbridge)" = sockbridge ] || { echo "FAIL: /var/log/sockbridge not the user's"; exit 1; }
# A changed conffile survives an upgrade whose conffile did not change (no prompt).
echo "# changed by the administrator" >>"$root/etc/sockbridge/sockbridge.yaml"
in_root dpkg -i /tmp/sockbridge-1.deb >/dev/null
grep -q "changed by the administrator" "$root/etc/sockbridge/sockbridge.yaml" \
    || { echo "FAIL: upgrade replaced the changed conffile"; exit 1; }
in_root dpkg -i /tmp/sockbridge-1.deb >/dev/null   # reinstall of the same version
in_root dpkg -r sockbridge >/dev/null
[ ! -e "$root/usr/sbin/sockbridged" ] && [ -e "$root/etc/sockbridge/sockbridge.yaml" ] \
    || { echo "FAIL: remove must drop the binary and keep the conffile"; exit 1; }
in_root dpkg -P sockbridge >/dev/null

ci_step "purge left nothing behind"
snapshot >"$work/after.txt"
(cd "$root/etc" && find . -type f ! -name 'passwd*' ! -name 'group*' ! -name 'shadow*' ! -name 'gshadow*' \
    ! -name ld.so.cache -print0 | sort -z | xargs -0 md5sum) >"$work/after.md5"
# The sockbridge system user stays, as Debian keeps every system user (policy 9.2.2): only the
# backups systemd-sysusers makes of the user database are new paths.
residue=$(diff "$work/before.txt" "$work/after.txt" | grep '^[<>]' \
    | grep -vE '^> \./etc/(passwd|group|shadow|gshadow)- ' || true)
changed=$(diff "$work/before.md5" "$work/after.md5" || true)
if [ -n "$residue$changed" ]; then
    echo "FAIL: the root differs after purge:"; echo "$residue"; echo "$changed"; exit 1
fi
in_root getent passwd sockbridge || true
echo "no residue: $(wc -l <"$work/after.txt") paths compared, /etc contents equal"
cleanup

ci_step "upgrades under systemd in the test VM (restart only on a config that passes --check)"
SOCKBRIDGE_VM_TIMEOUT=840 tests/vm/run-in-vm --systemd -- bash tests/packaging/deb-upgrade-in-vm.sh "${debs[@]}"
ci_step_done
rm -rf "$work"
echo "40-deb: PASS"
