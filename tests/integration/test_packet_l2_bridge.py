# SPDX-License-Identifier: MIT
# A filtered L2 bridge: host a and host c share 192.0.2.0/24 but have no link between them; the
# daemon in host m captures what arrives on m-a and injects it on m-c (`inject: true`), and back.
# What the filter matches reaches the far side frame for frame (checked with a packet socket
# there); what it does not match never does.
import os
import select
import socket
import time

import harness
import netns
from harness import Daemon, check, check_equal

A, C = "192.0.2.1", "192.0.2.3"
ETH_P_ALL = 0x0003


def bridge(net):
    """a -- m -- c; m's ends have no address; a and c know each other's MAC (no ARP)."""
    a, m, c = net.host("a"), net.host("m"), net.host("c")
    am, ma = net.link(a, m)
    mc, cm = net.link(m, c)
    a.ip("addr", "add", f"{A}/24", "dev", am.name)
    c.ip("addr", "add", f"{C}/24", "dev", cm.name)
    net.up(static_neighbours=False)
    netns.Network.neighbour(am, C, cm.mac)
    netns.Network.neighbour(cm, A, am.mac)
    return a, m, c, am, ma, mc, cm


def config(west, east, bpf):
    return f"""\
listeners:
  west:
    type: packet
    interface: {west}
    direction: in
    promiscuous: true
    filter: "{bpf}"
    inject: true
  east:
    type: packet
    interface: {east}
    direction: in
    promiscuous: true
    filter: "{bpf}"
    inject: true
routes:
  - from: west
    to: east
  - from: east
    to: west
"""


def tap(host, interface):
    """A packet socket on `interface` in `host`: every frame it receives (ETH_P_ALL)."""
    s = host.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((interface.name, 0))
    harness.grow_rcvbuf(s, 4 << 20)
    return s


def frames_from(tap_socket, count, predicate, timeout=harness.IO_TIMEOUT):
    """The next `count` incoming frames for which predicate(frame bytes) holds."""
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise harness.TestFailure(f"timed out: {len(out)} of {count} frames at the far side")
        r, _, _ = select.select([tap_socket], [], [], left)
        if not r:
            continue
        frame, address = tap_socket.recvfrom(65535)
        if address[2] != socket.PACKET_OUTGOING and predicate(frame):
            out.append(frame)
    return out


def udp_checksum_errors(host):
    """The InCsumErrors of host's UDP counters (/proc/net/snmp)."""
    lines = [line.split() for line in host.run(["cat", "/proc/net/snmp"]).stdout.decode().splitlines()
             if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("InCsumErrors")])


def test_filtered_frames_cross_the_bridge_unchanged_and_others_do_not():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, m, c, am, ma, mc, cm = bridge(net)
        with c.socket() as wanted, c.socket() as unwanted, tap(c, cm) as far:
            wanted.bind((C, 0))
            unwanted.bind((C, 0))
            port, other = wanted.getsockname()[1], unwanted.getsockname()[1]
            bpf = f"udp port {port} or icmp"
            with Daemon(config(ma.name, mc.name, bpf), tmp, wrapper=m.wrapper) as daemon:
                # Checksum 0 (SO_NO_CHECK): what a sends is complete on the wire, as from a real NIC.
                netns.send_udp(a, (C, other), [b"filtered out %d" % i for i in range(3)], no_check=True)
                payloads = [b"bridged %02d " % i + b"x" * (i * 37) for i in range(20)]
                source = netns.send_udp(a, (C, port), payloads, no_check=True)
                wanted.settimeout(harness.IO_TIMEOUT)
                for expected in payloads:
                    check_equal(wanted.recvfrom(65535), (expected, source), "datagram at c (payload, sender)")
                frames = frames_from(far, len(payloads), lambda f: f[12:14] == b"\x08\x00" and f[23] == 17)
                for frame, payload in zip(frames, payloads):
                    d = netns.decode(netns.LINKTYPE_ETHERNET, frame)
                    check_equal((d.eth_src, d.eth_dst, d.src, d.dst, d.sport, d.dport, d.payload),
                                (am.mac, cm.mac, A, C, source[1], port, payload), "frame at c")
                    check_equal(d.ttl, 64, "TTL (a bridge does not route)")
                # Both ways: the echo reply crosses back from c to a.
                for seq in range(1, 4):
                    reply = netns.ping(a, C, 0xB0B0, seq, b"across the bridge %d" % seq)
                    check_equal(reply[8:], b"across the bridge %d" % seq, "echo reply payload")
                harness.assert_no_datagram(unwanted)
                check_equal(udp_checksum_errors(c), 0, "UDP checksum errors at c")
                daemon.wait_counter(
                    lambda x: x["listeners"]["east"]["messages_out"] >= len(payloads) + 3, what="injected frames")
                check_equal(daemon.stop(), 0, "exit code")
        final = daemon.final_counters()
        check_equal(final["listeners"]["west"]["messages_in"], len(payloads) + 3, "west: captured (datagrams, requests)")
        check_equal(final["listeners"]["east"]["messages_out"], len(payloads) + 3, "east: injected")
        check_equal(final["listeners"]["east"]["messages_in"], 3, "east: captured (echo replies)")
        check_equal(final["listeners"]["west"]["messages_out"], 3, "west: injected (echo replies)")
        for name in ("west", "east"):
            check_equal(final["listeners"][name]["errors"], 0, f"{name}: errors")
            check_equal(netns.kernel_drops(final, name), 0, f"{name}: kernel drops")


def test_bridge_carries_tcp_and_udp_with_offloaded_checksums():
    """A socket's TCP and UDP on a veth leave their checksums to an offload (CHECKSUM_PARTIAL): the
    captured frame's checksum field is not final. Injected as captured, c would drop them, so the
    bridge must complete the checksum (the kernel marks such frames TP_STATUS_CSUMNOTREADY)."""
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, m, c, am, ma, mc, cm = bridge(net)
        with c.socket() as wanted:
            wanted.bind((C, 0))
            port = wanted.getsockname()[1]
            tcp_port = 5000 + os.getpid() % 1000
            bpf = f"udp port {port} or tcp port {tcp_port}"
            with Daemon(config(ma.name, mc.name, bpf), tmp, wrapper=m.wrapper) as daemon:
                payloads = [b"checksummed %d" % i for i in range(5)]
                source = netns.send_udp(a, (C, port), payloads)
                # The daemon's own count says when the frames went out: then they arrive at once or never.
                daemon.wait_counter(lambda x: x["listeners"]["east"]["messages_out"] >= len(payloads),
                                    what="the datagrams injected towards c")
                for expected in payloads:
                    wanted.settimeout(5.0)
                    try:
                        data, sender = wanted.recvfrom(65535)
                    except socket.timeout:
                        raise harness.TestFailure(
                            f"no datagram at c 5s after it was injected; c's UDP InCsumErrors: "
                            f"{udp_checksum_errors(c)} (a checksum left for offload, not completed before "
                            "injecting, makes c drop the frame)")
                    check_equal((data, sender), (expected, source), "datagram at c")
                request, response = b"over a userspace bridge\n" * 200, b"and back\n" * 300
                netns.tcp_exchange(a, c, C, tcp_port, request, response)
                check_equal(daemon.stop(), 0, "exit code")
        final = daemon.final_counters()
        check(final["listeners"]["west"]["messages_in"] >= len(payloads) + 3, "west captured the UDP and TCP")
        check_equal(final["listeners"]["east"]["errors"], 0, "east: errors")


if __name__ == "__main__":
    harness.main()
