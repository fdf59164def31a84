#!/bin/bash
# SocketCAN smoke test. Runs INSIDE the test VM (needs vcan/vxcan/can-gw):
#   tests/vm/run-in-vm tests/vm/can-smoke.sh
# Checks vcan (classic, extended id, CAN FD), a vxcan pair and a can-gw route.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# listen IFACE N: candump N frames from IFACE in the background; returns once
# candump's socket is registered (an entry for IFACE in /proc/net/can/rcvlist_all).
listen() {
    timeout 30 stdbuf -oL candump -L -n "$2" "$1" >"$tmp/$1.log" &
    dump_pid=$!
    for _ in $(seq 100); do
        grep -v 'no entry' /proc/net/can/rcvlist_all | grep -qw "$1" && return 0
        sleep 0.1
    done
    fail "candump on $1 did not start"
}

# expect IFACE EXPECTED: wait for candump, compare its frames (without timestamps).
expect() {
    wait "$dump_pid" || fail "candump on $1 failed or timed out; got: $(cat "$tmp/$1.log")"
    local got
    # Drop timestamps; clear CANFD_FDF (0x4) from the FD flags nibble, which
    # newer kernels report on received FD frames.
    got=$(cut -d' ' -f2- "$tmp/$1.log" | sed 's/##4/##0/;s/##5/##1/;s/##6/##2/;s/##7/##3/')
    [[ $got == "$2" ]] || fail "$1: expected frames:"$'\n'"$2"$'\n'"got:"$'\n'"$got"
    echo "ok: $1 received exactly:"
    while read -r line; do echo "    $line"; done <<<"$got"
}

[[ -d /proc/net/can ]] || fail "no SocketCAN in this kernel (run me via tests/vm/run-in-vm)"

# vcan: classic, extended id, CAN FD (needs mtu 72), then a sentinel so that
# "exactly these frames" is checked.
ip link add dev vcan0 type vcan || fail "cannot create vcan0"
ip link set vcan0 mtu 72
ip link set up vcan0
echo "ok: vcan0 created (mtu 72)"
listen vcan0 4
cansend vcan0 123#DEADBEEF
cansend vcan0 1ABCDEF0#0102
cansend vcan0 456##1112233445566778899AABBCC
cansend vcan0 7FF#FF
expect vcan0 "vcan0 123#DEADBEEF
vcan0 1ABCDEF0#0102
vcan0 456##1112233445566778899AABBCC
vcan0 7FF#FF"

# vxcan pair: a frame sent on one end arrives on the peer.
ip link add vxcan0 type vxcan peer name vxcan1 || fail "cannot create vxcan pair"
ip link set up vxcan0
ip link set up vxcan1
echo "ok: vxcan pair vxcan0/vxcan1 created"
listen vxcan1 1
cansend vxcan0 321#CAFE
expect vxcan1 "vxcan1 321#CAFE"

# can-gw: route vcan0 -> vcan1 (-e: echo routed frames to local sockets on vcan1).
ip link add dev vcan1 type vcan
ip link set up vcan1
cangw -A -s vcan0 -d vcan1 -e || fail "cangw -A failed"
listen vcan1 1
cansend vcan0 010#01
expect vcan1 "vcan1 010#01"

echo "PASS: can-smoke"
