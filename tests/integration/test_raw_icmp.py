# SPDX-License-Identifier: MIT
# raw listeners (AF_INET/AF_INET6 SOCK_RAW): an ICMP listener in host b receives the pings host a
# sends (logged as pcap with the raw-IP link type and as packet-jsonl), and sends what is routed to
# it (an echo request built by the test, which a answers); a protocol given by number (253)
# receives and sends, with `header_included` the test's own IPv4 header goes out as built.
import os
import socket
import struct
import time

import harness
import netns
from harness import Daemon, check, check_equal

A, B = "192.0.2.1", "192.0.2.2"
A6, B6 = "2001:db8:6::1", "2001:db8:6::2"


def two_hosts(net, ipv6=False):
    a, b = net.host("a"), net.host("b")
    la, lb = net.link(a, b, v4=(f"{A}/24", f"{B}/24"), v6=(f"{A6}/64", f"{B6}/64") if ipv6 else None)
    net.up()
    return a, b, la, lb


def raw_receiver(host, proto, family=socket.AF_INET):
    s = host.socket(family, socket.SOCK_RAW, proto)
    harness.grow_rcvbuf(s, 4 << 20)
    return s


def recv_matching(sock, predicate, timeout=harness.IO_TIMEOUT, what="a packet"):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise harness.TestFailure(f"timed out after {timeout}s waiting for {what}")
        sock.settimeout(left)
        try:
            data, address = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if predicate(data):
            return data, address


def test_icmp_listener_receives_pings_and_logs_them():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        pcap, jsonl = os.path.join(tmp, "icmp.pcap"), os.path.join(tmp, "icmp.jsonl")
        cfg = f"""\
listeners:
  icmp: {{type: raw, family: ipv4, protocol: icmp}}
routes:
  - from: icmp
    log: {{path: {pcap}, format: pcap}}
  - from: icmp
    log: {{path: {jsonl}, format: packet-jsonl}}
"""
        with Daemon(cfg, tmp, wrapper=b.wrapper) as daemon:
            pings = [(0x3E00, seq, b"raw listener %d " % seq + b"." * seq * 10) for seq in range(1, 6)]
            for ident, seq, payload in pings:
                netns.ping(a, B, ident, seq, payload)
            daemon.wait_counter(lambda c: netns.captured(c, "icmp") >= len(pings), what="5 echo requests")
            check_equal(daemon.stop(), 0, "exit code")
        check_equal(netns.captured(daemon.final_counters(), "icmp"), len(pings),
                    "received: the requests (what b sends is not received by its own raw socket)")
        f = netns.read_pcap(pcap)
        check(f.linktype in (netns.LINKTYPE_RAW, netns.LINKTYPE_IPV4), f"link type {f.linktype}: raw IP expected")
        f = netns.load_pcap(pcap, linktype=f.linktype)
        got = [netns.decode(f.linktype, p.data) for p in f.packets]
        check_equal([(d.ip_version, d.src, d.dst, d.proto, d.icmp_type, d.icmp_id, d.icmp_seq, d.payload) for d in got],
                    [(4, A, B, 1, 8, i, s, p) for i, s, p in pings], "logged packets: whole IPv4 packets")
        for n, (d, p) in enumerate(zip(got, f.packets)):
            check_equal(p.length, d.ip_total_length, f"packet {n}: length is the IP total length")
        lines = netns.tcpdump_read(pcap, expect_packets=len(pings))
        check(all(f"IP {A} > {B}: ICMP echo request" in line for line in lines), "tcpdump:\n" + "\n".join(lines))
        records = harness.read_jsonl(jsonl)
        check_equal([(r.get("link"), r.get("l3"), r.get("src"), r.get("dst"), r.get("proto"), r.get("icmp_type"))
                     for r in records], [("raw-ip", "ipv4", A, B, "icmp", 8)] * len(pings), "packet-jsonl records")


def test_icmp_listener_sends_what_is_routed_to_it():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        ctl_port = harness.free_udp_port()
        jsonl = os.path.join(tmp, "replies.jsonl")
        cfg = f"""\
listeners:
  ctl: {{type: udp, bind: 127.0.0.1:{ctl_port}}}
  icmp: {{type: raw, family: ipv4, protocol: icmp, peer: {A}}}
routes:
  - from: ctl
    to: icmp
  - from: icmp
    log: {{path: {jsonl}, format: packet-jsonl}}
"""
        with raw_receiver(a, socket.IPPROTO_ICMP) as at_a, Daemon(cfg, tmp, wrapper=b.wrapper) as daemon:
            with b.socket() as ctl:
                requests = [netns.icmp_echo(0x5E00, seq, b"sent by the daemon %d" % seq) for seq in range(1, 4)]
                for r in requests:
                    ctl.sendto(r, ("127.0.0.1", ctl_port))
            for r in requests:
                packet, _ = recv_matching(at_a, lambda p: p[20] == 8, what="an echo request at a")
                d = netns.decode(netns.LINKTYPE_RAW, packet)
                check_equal((d.src, d.dst, d.proto), (B, A, 1), "the request's IP header at a (made by b's kernel)")
                check_equal(packet[20:], r, "the ICMP message at a: as routed to the listener")
            # a's kernel answered each one; the listener receives the replies.
            daemon.wait_counter(lambda c: netns.captured(c, "icmp") >= 3, what="3 echo replies")
            check_equal(daemon.stop(), 0, "exit code")
        final = daemon.final_counters()
        check_equal(final["listeners"]["icmp"]["messages_out"], 3, "icmp: messages sent")
        check_equal(final["listeners"]["icmp"]["errors"], 0, "icmp: errors")
        records = harness.read_jsonl(jsonl)
        check_equal([(r.get("src"), r.get("icmp_type")) for r in records], [(A, 0)] * 3, "echo replies received")


def ipv4_header(src, dst, proto, payload_length, ttl=33, ident=0x4242):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_length, ident, 0, ttl, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", netns.checksum(header)) + header[12:]


def test_protocol_by_number_with_header_included():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        ctl_port = harness.free_udp_port()
        pcap = os.path.join(tmp, "p253.pcap")
        cfg = f"""\
listeners:
  ctl: {{type: udp, bind: 127.0.0.1:{ctl_port}}}
  exp: {{type: raw, family: ipv4, protocol: 253, header_included: true, peer: {A}}}
routes:
  - from: ctl
    to: exp
  - from: exp
    log: {{path: {pcap}, format: pcap}}
"""
        with raw_receiver(a, 253) as at_a, Daemon(cfg, tmp, wrapper=b.wrapper) as daemon:
            # a -> b: protocol 253 from a's own raw socket; b's listener receives them.
            inbound = [b"experimental %d" % i for i in range(4)]
            for payload in inbound:
                at_a.sendto(payload, (B, 0))
            daemon.wait_counter(lambda c: netns.captured(c, "exp") >= len(inbound), what="4 protocol-253 packets")
            # b -> a: whole IPv4 packets, header built here (TTL 33, id 0x4242), sent as they are.
            outbound = [b"header included %d" % i for i in range(3)]
            with b.socket() as ctl:
                for payload in outbound:
                    ctl.sendto(ipv4_header(B, A, 253, len(payload)) + payload, ("127.0.0.1", ctl_port))
            for payload in outbound:
                packet, _ = recv_matching(at_a, lambda p: p[12:16] == socket.inet_aton(B), what="a packet from b")
                d = netns.decode(netns.LINKTYPE_RAW, packet)
                check_equal((d.src, d.dst, d.proto, d.ttl, struct.unpack("!H", packet[4:6])[0], d.payload),
                            (B, A, 253, 33, 0x4242, payload), "packet at a (addresses, protocol, TTL, id, payload)")
            check_equal(daemon.stop(), 0, "exit code")
        final = daemon.final_counters()
        check_equal(final["listeners"]["exp"]["messages_out"], len(outbound), "exp: sent")
        f = netns.read_pcap(pcap)
        f = netns.load_pcap(pcap, linktype=f.linktype)
        got = [netns.decode(f.linktype, p.data) for p in f.packets]
        check_equal([(d.src, d.dst, d.proto, d.payload) for d in got], [(A, B, 253, p) for p in inbound],
                    "logged packets")
        netns.tcpdump_read(pcap, expect_packets=len(inbound))


def test_icmpv6_listener_receives_echo_requests():
    with netns.Network(ipv6=True) as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net, ipv6=True)
        jsonl = os.path.join(tmp, "icmpv6.jsonl")
        pcap = os.path.join(tmp, "icmpv6.pcap")
        cfg = f"""\
listeners:
  icmp6: {{type: raw, family: ipv6, protocol: icmpv6}}
routes:
  - from: icmp6
    log: {{path: {jsonl}, format: packet-jsonl}}
  - from: icmp6
    log: {{path: {pcap}, format: pcap}}
"""
        with Daemon(cfg, tmp, wrapper=b.wrapper) as daemon:
            with a.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
                for seq in range(1, 4):
                    # The kernel fills in an ICMPv6 raw socket's checksum.
                    s.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x6600, seq) + b"v6 ping %d" % seq, (B6, 0))
            daemon.wait_counter(lambda c: netns.captured(c, "icmp6") >= 3, what="3 ICMPv6 messages")
            check_equal(daemon.stop(), 0, "exit code")
        records = [r for r in harness.read_jsonl(jsonl) if r.get("icmp_type") == 128]
        check_equal([(r.get("l3"), r.get("src"), r.get("dst"), r.get("proto")) for r in records],
                    [("ipv6", A6, B6, "icmpv6")] * 3, "echo requests in the packet-jsonl log")
        f = netns.read_pcap(pcap)
        f = netns.load_pcap(pcap, linktype=f.linktype)
        requests = [d for d in (netns.decode(f.linktype, p.data) for p in f.packets) if d.get("icmp_type") == 128]
        check_equal([(d.ip_version, d.src, d.dst, d.icmp_seq, d.payload) for d in requests],
                    [(6, A6, B6, seq, b"v6 ping %d" % seq) for seq in range(1, 4)], "echo requests in the pcap")
        netns.tcpdump_read(pcap, expect_packets=len(f.packets))


if __name__ == "__main__":
    harness.main()
