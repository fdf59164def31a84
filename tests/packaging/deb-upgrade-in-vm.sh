#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside `tests/vm/run-in-vm --systemd` (a real systemd as PID 1, the host root under a tmpfs
# overlay): installs the sockbridge package and upgrades it, checking that an upgrade restarts the
# daemon only when its config passes `sockbridged --check` and never (re)starts it on one that fails.
# Usage: deb-upgrade-in-vm.sh V1.deb V2.deb V3.deb V4.deb (one package, four versions in order)
set -euo pipefail
config=/etc/sockbridge/sockbridge.yaml
fail() { echo "FAIL: $*" >&2; journalctl -u sockbridge --no-pager -n 30 >&2 || true; exit 1; }
main_pid() { systemctl show -P MainPID sockbridge.service; }
# Wait for the unit to settle (activating -> active or failed), bounded.
settle() {
    local state
    for _ in $(seq 100); do
        state=$(systemctl show -P ActiveState sockbridge.service)
        [ "$state" != activating ] && [ "$state" != deactivating ] && { echo "$state"; return; }
        sleep 0.1
    done
    echo "$state"
}

# man-db's trigger would rebuild the whole man index over the VM's 9p root at each dpkg -i.
rm -f /var/lib/man-db/auto-update
# A build host's policy-rc.d (exit 101: "start no services", as in containers) would keep the
# package from starting anything; a real system has none. The VM's root is a throwaway overlay.
rm -f /usr/sbin/policy-rc.d

echo "== fresh install: enabled and started"
dpkg -i "$1" >/tmp/dpkg1.log 2>&1 || { cat /tmp/dpkg1.log; fail "dpkg -i $1"; }
[ "$(settle)" = active ] || fail "not active after install"
systemctl is-enabled --quiet sockbridge.service || fail "not enabled after install"
id sockbridge >/dev/null || fail "no sockbridge user"
first=$(main_pid)
[ "$(stat -c %U "/proc/$first")" = sockbridge ] || fail "daemon does not run as sockbridge"
cp "$config" /tmp/good.yaml

echo "== upgrade with a config that fails --check: the running daemon is kept, not restarted"
printf 'bogus_key: 1\n' >>"$config"
dpkg -i "$2" >/tmp/dpkg2.log 2>&1 || { cat /tmp/dpkg2.log; fail "dpkg -i $2"; }
cat /tmp/dpkg2.log
grep -qF "NOT (re)started" /tmp/dpkg2.log || fail "postinst did not say it kept the old daemon"
grep -q "unknown key 'bogus_key'" /tmp/dpkg2.log || fail "postinst did not show the --check error"
[ "$(settle)" = active ] || fail "daemon not active after the refused restart"
[ "$(main_pid)" = "$first" ] || fail "daemon was restarted on a config that fails --check"

echo "== upgrade with a valid config: restarted on the new version"
cp /tmp/good.yaml "$config"
dpkg -i "$3" >/tmp/dpkg3.log 2>&1 || { cat /tmp/dpkg3.log; fail "dpkg -i $3"; }
[ "$(settle)" = active ] || fail "not active after the upgrade"
second=$(main_pid)
[ "$second" != "$first" ] || fail "daemon was not restarted by the upgrade"

echo "== stopped daemon, config that fails --check, upgrade: not started"
systemctl stop sockbridge.service
printf 'bogus_key: 1\n' >>"$config"
dpkg -i "$4" >/tmp/dpkg4.log 2>&1 || { cat /tmp/dpkg4.log; fail "dpkg -i $4"; }
cat /tmp/dpkg4.log
grep -qF "NOT (re)started" /tmp/dpkg4.log || fail "postinst did not say it left the daemon stopped"
state=$(settle)
[ "$state" != active ] || fail "daemon started on a config that fails --check"
echo "state after the upgrade: $state"
echo "== a start by hand on that config is refused too (ExecStartPre=sockbridged --check)"
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl start --no-block sockbridge.service
journalctl -f -u sockbridge --no-pager --since "$since" >/tmp/journal.log &
grep -q -m1 "unknown key 'bogus_key'" <(timeout 60 tail -n +1 -F /tmp/journal.log) \
    || fail "no --check error in the journal"
kill %1 || true
systemctl stop sockbridge.service   # ends the restart attempts (Restart=on-failure)
[ "$(systemctl show -P ActiveState sockbridge.service)" != active ] || fail "active on a bad config"

echo "== remove stops it, purge removes the user's data"
cp /tmp/good.yaml "$config"
systemctl start sockbridge.service
[ "$(settle)" = active ] || fail "not active before remove"
dpkg -r sockbridge >/dev/null
[ "$(systemctl show -P ActiveState sockbridge.service)" != active ] || fail "still active after remove"
dpkg -P sockbridge >/dev/null
for path in /etc/sockbridge /var/log/sockbridge /var/lib/sockbridge \
        /etc/systemd/system/multi-user.target.wants/sockbridge.service; do
    [ ! -e "$path" ] || fail "$path left after purge"
done
echo PASS
