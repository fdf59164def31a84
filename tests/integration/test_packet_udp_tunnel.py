# SPDX-License-Identifier: MIT
# Frames tunnelled as UDP datagrams between two daemons: host a and host d share 192.0.2.0/24
# but are four namespaces apart (a -- b ~~ c -- d). sockbridged in b captures what arrives from a
# and sends each frame as one UDP datagram over 198.51.100.0/24 to sockbridged in c, which injects
# it towards d; the way back works the same. Verified at d (the datagrams, and the frames with a
# packet socket) and by a ping answered across the tunnel.
import select
import socket
import time

import harness
import netns
from harness import Daemon, check, check_equal

A, D = "192.0.2.1", "192.0.2.4"
B_T, C_T = "198.51.100.2", "198.51.100.3"
ETH_P_ALL = 0x0003


def topology(net):
    a, b, c, d = net.host("a"), net.host("b"), net.host("c"), net.host("d")
    ab, ba = net.link(a, b)
    bc, cb = net.link(b, c, v4=(f"{B_T}/24", f"{C_T}/24"))
    cd, dc = net.link(c, d)
    a.ip("addr", "add", f"{A}/24", "dev", ab.name)
    d.ip("addr", "add", f"{D}/24", "dev", dc.name)
    net.up()
    netns.Network.neighbour(ab, D, dc.mac)
    netns.Network.neighbour(dc, A, ab.mac)
    return a, b, c, d, ab, ba, cd, dc


def end_config(capture_on, local, remote, port, bpf):
    return f"""\
listeners:
  lan:
    type: packet
    interface: {capture_on}
    direction: in
    filter: "{bpf}"
    inject: true
  tunnel:
    type: udp
    bind: {local}:{port}
    peer: {remote}:{port}
routes:
  - from: lan
    to: tunnel
    bidirectional: true
"""


def test_frames_cross_a_udp_tunnel_between_two_daemons():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, c, d, ab, ba, cd, dc = topology(net)
        port = 4789
        with d.socket() as receiver:
            receiver.bind((D, 0))
            app_port = receiver.getsockname()[1]
            bpf = f"udp port {app_port} or icmp"
            tap = d.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            tap.bind((dc.name, 0))
            harness.grow_rcvbuf(tap, 4 << 20)
            with tap, \
                    Daemon(end_config(ba.name, B_T, C_T, port, bpf), tmp, wrapper=b.wrapper, name="b.yaml") as db, \
                    Daemon(end_config(cd.name, C_T, B_T, port, bpf), tmp, wrapper=c.wrapper, name="c.yaml") as dcd:
                payloads = [b"tunnelled %03d " % i + bytes(range(256))[: (i * 53) % 1200] for i in range(30)]
                source = netns.send_udp(a, (D, app_port), payloads, no_check=True)
                receiver.settimeout(harness.IO_TIMEOUT)
                for expected in payloads:
                    check_equal(receiver.recvfrom(65535), (expected, source), "datagram at d (payload, sender)")
                # The frames d received: a's, unchanged (MACs, addresses, TTL: nothing routed them).
                got = []
                deadline = time.monotonic() + harness.IO_TIMEOUT
                while len(got) < len(payloads) and time.monotonic() < deadline:
                    if select.select([tap], [], [], max(0, deadline - time.monotonic()))[0]:
                        frame, address = tap.recvfrom(65535)
                        if address[2] != socket.PACKET_OUTGOING and frame[12:14] == b"\x08\x00" and frame[23] == 17:
                            got.append(netns.decode(netns.LINKTYPE_ETHERNET, frame))
                check_equal([(x.eth_src, x.eth_dst, x.src, x.dst, x.ttl, x.sport, x.dport, x.payload) for x in got],
                            [(ab.mac, dc.mac, A, D, 64, source[1], app_port, p) for p in payloads],
                            "frames at d")
                for seq in range(1, 4):
                    reply = netns.ping(a, D, 0x7E7E, seq, b"through the tunnel %d" % seq)
                    check_equal(reply[8:], b"through the tunnel %d" % seq, "echo reply from d")
                n = len(payloads) + 3
                db.wait_counter(lambda x: x["listeners"]["tunnel"]["messages_in"] >= 3, what="3 replies back at b")
                check_equal(db.stop(), 0, "b: exit code")
                check_equal(dcd.stop(), 0, "c: exit code")
        fb, fc = db.final_counters(), dcd.final_counters()
        check_equal(fb["listeners"]["lan"]["messages_in"], n, "b: frames captured from a")
        check_equal(fb["listeners"]["tunnel"]["messages_out"], n, "b: datagrams sent into the tunnel")
        check_equal(fc["listeners"]["tunnel"]["messages_in"], n, "c: datagrams out of the tunnel")
        check_equal(fc["listeners"]["lan"]["messages_out"], n, "c: frames injected towards d")
        check_equal(fc["listeners"]["lan"]["messages_in"], 3, "c: echo replies captured from d")
        check_equal(fb["listeners"]["lan"]["messages_out"], 3, "b: echo replies injected towards a")
        for name, f in (("b", fb), ("c", fc)):
            for listener in ("lan", "tunnel"):
                check_equal(f["listeners"][listener]["errors"], 0, f"{name}: {listener} errors")
            check_equal(netns.kernel_drops(f, "lan"), 0, f"{name}: kernel drops")


def test_tunnel_datagrams_carry_whole_frames():
    """What goes through the tunnel, seen by a plain UDP socket in place of the far daemon: one
    datagram per frame, holding the Ethernet frame a sent."""
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, c, d, ab, ba, cd, dc = topology(net)
        port = 4789
        with c.socket() as far:
            far.bind((C_T, port))
            with Daemon(end_config(ba.name, B_T, C_T, port, "udp port 9999"), tmp, wrapper=b.wrapper) as daemon:
                payloads = [b"raw frame %d" % i for i in range(5)]
                source = netns.send_udp(a, (D, 9999), payloads, no_check=True)
                datagrams = harness.recv_datagrams(far, len(payloads))
                check_equal(daemon.stop(), 0, "exit code")
        for datagram, payload in zip(datagrams, payloads):
            x = netns.decode(netns.LINKTYPE_ETHERNET, datagram)
            check_equal((x.eth_src, x.eth_dst, x.src, x.dst, x.sport, x.dport, x.payload),
                        (ab.mac, dc.mac, A, D, source[1], 9999, payload), "the frame in a tunnel datagram")
        check(len(datagrams[0]) == 14 + 20 + 8 + len(payloads[0]), f"datagram of {len(datagrams[0])} bytes: "
              "the frame and nothing else")


if __name__ == "__main__":
    harness.main()
