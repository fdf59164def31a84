#!/bin/bash
# SPDX-License-Identifier: MIT
# The SysV/busybox init script (packaging/sysvinit/sockbridge) with busybox's start-stop-daemon and
# the built sockbridged: start, a message through it, a config that fails --check refused by
# restart and reload (the running daemon stays), stop flushing the log. Skips (77) without busybox.
# Usage: test_sysvinit.sh SOURCE_ROOT SOCKBRIDGED
set -euo pipefail
source_root=$1 sockbridged=$2
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "SKIP: no busybox (apt-get install busybox-static)"; exit 77; }
tmp=$(mktemp -d)
export PATH="$tmp/bin:$PATH" DAEMON=$sockbridged CONFIG=$tmp/sockbridge.yaml PIDFILE=$tmp/pid \
    LOGFILE=$tmp/daemon.log STOP_TIMEOUT=20
init=$source_root/packaging/sysvinit/sockbridge
cleanup() { [ -s "$tmp/pid" ] && kill "$(cat "$tmp/pid")" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$tmp/daemon.log" 2>/dev/null; exit 1; }
mkdir "$tmp/bin"; ln -s "$busybox" "$tmp/bin/start-stop-daemon"

cat >"$CONFIG" <<YAML
daemon: {control: none}
listeners:
  in: {type: unix, listen: $tmp/in.sock, format: lines}
routes:
  - from: in
    log: {path: $tmp/traffic.jsonl, format: jsonl}
YAML

echo "== start"
"$init" start || fail "start"
pid=$(cat "$PIDFILE")
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$sockbridged")" ] || fail "the pid file does not name sockbridged"
"$init" status | grep -q "running (pid $pid)" || fail "status"
# Once the daemon logs that it runs, its listeners are bound (tail -F waits on inotify, bounded).
grep -q -m1 "running" <(timeout 20 tail -n +1 -F "$LOGFILE" 2>/dev/null) || fail "no 'running' line in the daemon's log"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"hello from init\n"); s.close()' "$tmp/in.sock"

echo "== a config that fails --check: restart and reload refuse, the daemon runs on"
cp "$CONFIG" "$tmp/good.yaml"
echo "bogus_key: 1" >>"$CONFIG"
if "$init" restart 2>"$tmp/restart.err"; then fail "restart accepted a bad config"; fi
grep -q "unknown key 'bogus_key'" "$tmp/restart.err" || fail "restart did not show the --check error"
if "$init" reload 2>/dev/null; then fail "reload accepted a bad config"; fi
[ "$(cat "$PIDFILE")" = "$pid" ] && kill -0 "$pid" || fail "the daemon did not survive the refused restart"
cp "$tmp/good.yaml" "$CONFIG"

echo "== stop: drains and flushes the log"
"$init" stop || fail "stop"
! kill -0 "$pid" 2>/dev/null || fail "still running after stop"
[ ! -e "$PIDFILE" ] || fail "pid file left"
grep -q "hello from init" "$tmp/traffic.jsonl" || fail "the message is not in the log"
"$init" status >/dev/null && fail "status says running after stop"
echo PASS
