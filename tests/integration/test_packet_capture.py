# SPDX-License-Identifier: MIT
# packet listener (AF_PACKET, whole Ethernet frames) in the receiving namespace of a two-host veth
# link: UDP, TCP and pings from host a to host b are logged as pcap and checked packet by packet
# (libpcap and a parser of the format, then tcpdump -r and tshark -r); a tcpdump filter captures
# only what matches; direction, snap length and promiscuous mode do what they say.
import os
import socket
import time

import harness
import netns
from harness import Daemon, check, check_equal

A4, B4 = "192.0.2.1", "192.0.2.2"
A6, B6 = "2001:db8:4::1", "2001:db8:4::2"


def two_hosts(net, ipv6=False):
    a, b = net.host("a"), net.host("b")
    la, lb = net.link(a, b, v4=(f"{A4}/24", f"{B4}/24"),
                      v6=(f"{A6}/64", f"{B6}/64") if ipv6 else None)
    net.up()
    return a, b, la, lb


def capture_config(interface, pcap_path, **keys):
    """A packet listener on `interface` logged to a pcap file; `keys` are further listener keys
    (values written as YAML flow scalars)."""
    extra = "".join(f"    {k}: {v}\n" for k, v in keys.items())
    return f"""\
listeners:
  cap:
    type: packet
    interface: {interface}
{extra}routes:
  - from: cap
    log: {{path: {pcap_path}, format: pcap}}
"""


def frames_on(interface):
    """Frames the interface has passed both ways (rx + tx): with IPv6 off and static neighbours
    nothing but the test's own traffic crosses a link, so this is what a capture must hold."""
    return interface.stat("rx_packets") + interface.stat("tx_packets")


def test_udp_tcp_and_ping_are_captured_frame_by_frame():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        pcap = os.path.join(tmp, "cap.pcap")
        with Daemon(capture_config(lb.name, pcap, mode="raw", direction="both"), tmp,
                    wrapper=b.wrapper) as daemon:
            before = frames_on(lb)
            started_ns = time.time_ns()
            # UDP: a socket in b receives, so b sends no port-unreachable back.
            with b.socket() as receiver:
                receiver.bind((B4, 0))
                udp_port = receiver.getsockname()[1]
                udp_payloads = [b"udp %02d " % i + bytes(range(i * 7 % 256, 256))[:20 + i] for i in range(5)]
                udp_source = netns.send_udp(a, (B4, udp_port), udp_payloads, bind=(A4, 0))
                for expected in udp_payloads:
                    check_equal(harness.recv_datagram(receiver), expected, "datagram in b")
            # TCP: one whole connection, a -> b, bytes both ways.
            tcp_port = 4000 + os.getpid() % 1000
            request, response = b"GET /frames HTTP/1.0\r\n\r\n" * 3, b"HTTP/1.0 200 OK\r\n\r\nframes" * 5
            tcp_client = netns.tcp_exchange(a, b, B4, tcp_port, request, response)
            # ICMP: three echo requests and replies.
            pings = [(0x5B00 + os.getpid() % 256, seq, b"ping payload %d" % seq) for seq in range(1, 4)]
            for ident, seq, payload in pings:
                netns.ping(a, B4, ident, seq, payload)
            expected_frames = frames_on(lb) - before
            counters = daemon.wait_counter(lambda c: netns.captured(c, "cap") >= expected_frames,
                                           what=f"{expected_frames} captured frames")
            check_equal(daemon.stop(), 0, "exit code")
            ended_ns = time.time_ns()
        final = daemon.final_counters()
        check_equal(netns.captured(final, "cap"), expected_frames, "frames captured (final counters)")
        check_equal(netns.kernel_drops(final, "cap"), 0, "kernel drops")
        check(netns.captured(counters, "cap") == expected_frames, f"captured {netns.captured(counters, 'cap')} "
              f"frames, the interface passed {expected_frames}")

        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        check_equal(len(f.packets), expected_frames, "frames in the pcap")
        frames = [netns.decode(f.linktype, p.data) for p in f.packets]
        for n, p in enumerate(f.packets):
            check_equal(p.caplen, p.length, f"frame {n}: caplen (no snap length set)")
            check(started_ns <= p.ts_ns <= ended_ns, f"frame {n}: timestamp {p.ts_ns} outside the run "
                  f"[{started_ns}, {ended_ns}]")
            if n:
                check(p.ts_ns >= f.packets[n - 1].ts_ns, f"frame {n}: timestamp before the previous one")
        for n, d in enumerate(frames):
            check_equal(d.ethertype, netns.ETH_P_IP, f"frame {n}: ethertype")
            inbound = d.src == A4
            check_equal((d.eth_src, d.eth_dst), (la.mac, lb.mac) if inbound else (lb.mac, la.mac),
                        f"frame {n}: MAC addresses")
            check_equal((d.src, d.dst), (A4, B4) if inbound else (B4, A4), f"frame {n}: IP addresses")
            check_equal(d.ttl, 64, f"frame {n}: TTL")

        udp = [d for d in frames if d.l4 == "udp"]
        check_equal([d.payload for d in udp], udp_payloads, "UDP payloads, in order")
        for d in udp:
            check_equal((d.src, d.sport, d.dst, d.dport), (udp_source[0], udp_source[1], B4, udp_port),
                        "UDP addresses and ports")

        tcp = [d for d in frames if d.l4 == "tcp"]
        up = [d for d in tcp if (d.src, d.sport) == tcp_client]
        down = [d for d in tcp if (d.dst, d.dport) == tcp_client]
        check_equal(len(up) + len(down), len(tcp), "TCP frames of the one connection")
        check(all(d.dport == tcp_port for d in up), "client frames go to the server port")
        check(up[0].flags & netns.TCP_SYN and not up[0].flags & netns.TCP_ACK, f"first frame is a SYN: {up[0]}")
        check(down[0].flags & netns.TCP_SYN and down[0].flags & netns.TCP_ACK, "first reply is a SYN-ACK")
        check(any(d.flags & netns.TCP_FIN for d in up) and any(d.flags & netns.TCP_FIN for d in down),
              "a FIN each way")
        check_equal(b"".join(d.payload for d in up), request, "TCP bytes a -> b in the capture")
        check_equal(b"".join(d.payload for d in down), response, "TCP bytes b -> a in the capture")

        icmp = [d for d in frames if d.l4 == "icmp"]
        expected_icmp = []
        for ident, seq, payload in pings:
            expected_icmp += [(8, A4, ident, seq, payload), (0, B4, ident, seq, payload)]
        check_equal([(d.icmp_type, d.src, d.icmp_id, d.icmp_seq, d.payload) for d in icmp], expected_icmp,
                    "ICMP echo requests and replies")
        check_equal(len(udp) + len(tcp) + len(icmp), len(frames), "frames that are UDP, TCP or ICMP")

        lines = netns.tcpdump_read(pcap, expect_packets=expected_frames)
        udp_lines = [line for line in lines if f" {udp_source[0]}.{udp_source[1]} > {B4}.{udp_port}: UDP" in line]
        check_equal([line.split("length ")[-1] for line in udp_lines], [str(len(p)) for p in udp_payloads],
                    "UDP lengths tcpdump prints")
        check_equal(sum(f"{B4} > {A4}: ICMP echo reply" in line for line in lines), len(pings),
                    "echo replies tcpdump prints")
        check_equal([line.split(" ", 2)[1].split(".")[1] for line in lines][:1],
                    [f"{f.packets[0].ts_ns % 1_000_000_000:09d}"], "tcpdump's nanoseconds of the first frame")
        # A socket's UDP and TCP checksums on a veth are left to an offload; the capture completes them.
        verbose = netns.tcpdump_read(pcap, ["-vv"], all_lines=True)
        bad = [line for line in verbose if "bad" in line and "cksum" in line]
        check(not bad, f"tcpdump -vv finds bad checksums in the pcap: {bad[:3]}")
        fields = netns.tshark_fields(pcap, ["frame.len", "ip.src", "udp.dstport", "data.data"],
                                     display_filter="udp")
        if fields is not None:
            check_equal([(int(length), src, int(port), bytes.fromhex(data.replace(":", "")))
                         for length, src, port, data in fields],
                        [(14 + 20 + 8 + len(p), udp_source[0], udp_port, p) for p in udp_payloads],
                        "tshark: UDP frames")


def test_filter_captures_only_udp_to_the_port():
    with netns.Network(ipv6=True) as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net, ipv6=True)
        pcap = os.path.join(tmp, "filtered.pcap")
        with b.socket() as r4, b.socket(socket.AF_INET6) as r6, b.socket() as other:
            r4.bind((B4, 0))
            port = r4.getsockname()[1]
            r6.bind((B6, port))
            other.bind((B4, 0))
            other_port = other.getsockname()[1]
            bpf = f"udp port {port}"
            with Daemon(capture_config(lb.name, pcap, filter=f'"{bpf}"'), tmp, wrapper=b.wrapper) as daemon:
                wanted4 = [b"match v4 %d" % i for i in range(7)]
                wanted6 = [b"match v6 %d" % i for i in range(4)]
                src4 = netns.send_udp(a, (B4, port), wanted4[:4], bind=(A4, 0))
                netns.send_udp(a, (B4, other_port), [b"other port %d" % i for i in range(5)], bind=(A4, 0))
                src6 = netns.send_udp(a, (B6, port), wanted6, bind=(A6, 0), family=socket.AF_INET6)
                netns.ping(a, B4, 0x77, 1, b"not udp")
                netns.tcp_exchange(a, b, B4, port, b"tcp to the same port number", b"not udp either")
                src4b = netns.send_udp(a, (B4, port), wanted4[4:], bind=(A4, 0))
                for _ in range(7):
                    harness.recv_datagram(r4)
                for _ in range(4):
                    harness.recv_datagram(r6)
                for _ in range(5):
                    harness.recv_datagram(other)
                wanted = len(wanted4) + len(wanted6)
                daemon.wait_counter(lambda c: netns.captured(c, "cap") >= wanted, what=f"{wanted} captured")
                check_equal(daemon.stop(), 0, "exit code")
        final = daemon.final_counters()
        check_equal(netns.captured(final, "cap"), wanted, "captured (final counters)")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        check_equal(len(f.packets), wanted, "frames in the pcap")
        check(all(netns.libpcap_matches(pcap, bpf)), f"a captured frame does not match {bpf!r} (libpcap)")
        frames = [netns.decode(f.linktype, p.data) for p in f.packets]
        got = [(d.ip_version, d.src, d.sport, d.dst, d.dport, d.payload) for d in frames]
        expected = ([(4, src4[0], src4[1], B4, port, p) for p in wanted4[:4]]
                    + [(6, src6[0], src6[1], B6, port, p) for p in wanted6]
                    + [(4, src4b[0], src4b[1], B4, port, p) for p in wanted4[4:]])
        check_equal(got, expected, "captured datagrams (version, addresses, ports, payload)")
        lines = netns.tcpdump_read(pcap, expect_packets=wanted)
        check(all(f".{port}: UDP, length" in line for line in lines), "tcpdump: every line a UDP datagram to "
              f"port {port}:\n" + "\n".join(lines))
        fields = netns.tshark_fields(pcap, ["udp.dstport"])
        if fields is not None:
            check_equal(fields, [(str(port),)] * wanted, "tshark: destination ports")


def test_direction_in_captures_only_received_frames():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        pcap = os.path.join(tmp, "in.pcap")
        with Daemon(capture_config(lb.name, pcap, direction="in", filter='"icmp"'), tmp,
                    wrapper=b.wrapper) as daemon:
            for seq in range(1, 6):
                netns.ping(a, B4, 0x1234, seq, b"inbound only")
            daemon.wait_counter(lambda c: netns.captured(c, "cap") >= 5, what="5 echo requests")
            check_equal(daemon.stop(), 0, "exit code")
        check_equal(netns.captured(daemon.final_counters(), "cap"), 5, "captured: the requests, not the replies")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        got = [(d.icmp_type, d.src, d.icmp_seq) for d in (netns.decode(f.linktype, p.data) for p in f.packets)]
        check_equal(got, [(8, A4, seq) for seq in range(1, 6)], "captured ICMP (type, source, seq)")
        netns.tcpdump_read(pcap, expect_packets=5)


def test_direction_out_captures_only_sent_frames():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        pcap = os.path.join(tmp, "out.pcap")
        with Daemon(capture_config(lb.name, pcap, direction="out", filter='"icmp"'), tmp,
                    wrapper=b.wrapper) as daemon:
            for seq in range(1, 4):
                netns.ping(a, B4, 0x4321, seq, b"outbound only")
            daemon.wait_counter(lambda c: netns.captured(c, "cap") >= 3, what="3 echo replies")
            check_equal(daemon.stop(), 0, "exit code")
        check_equal(netns.captured(daemon.final_counters(), "cap"), 3, "captured: the replies only")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        got = [(d.icmp_type, d.src, d.eth_src, d.icmp_seq)
               for d in (netns.decode(f.linktype, p.data) for p in f.packets)]
        check_equal(got, [(0, B4, lb.mac, seq) for seq in range(1, 4)], "captured ICMP (type, source, MAC, seq)")


def test_snap_length_cuts_frames_and_keeps_their_length():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        pcap = os.path.join(tmp, "snap.pcap")
        with b.socket() as receiver:
            receiver.bind((B4, 0))
            port = receiver.getsockname()[1]
            with Daemon(capture_config(lb.name, pcap, snaplen=96, filter=f'"udp port {port}"'), tmp,
                        wrapper=b.wrapper) as daemon:
                sizes = [10, 54, 200, 1400]
                payloads = [bytes([i]) * n for i, n in enumerate(sizes)]
                netns.send_udp(a, (B4, port), payloads)
                daemon.wait_counter(lambda c: netns.captured(c, "cap") >= len(sizes), what="4 captured")
                check_equal(daemon.stop(), 0, "exit code")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        # The header's snap length only has to cover every record (one log may take several listeners).
        check(f.snaplen >= 96, f"snap length in the pcap header {f.snaplen} is below the records' 96")
        check_equal([(p.caplen, p.length) for p in f.packets], [(min(96, 42 + n), 42 + n) for n in sizes],
                    "(caplen, len) of each frame")
        for p, payload in zip(f.packets, payloads):
            check_equal(p.data[42:], payload[:max(0, 96 - 42)], "the captured start of the payload")
        netns.tcpdump_read(pcap, expect_packets=len(sizes))


def test_promiscuous_mode_is_set_while_running_and_released():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = two_hosts(net)
        pcap = os.path.join(tmp, "promisc.pcap")

        def promiscuity():
            out = b.ip("-d", "-o", "link", "show", "dev", lb.name).stdout.decode()
            return int(out.split("promiscuity ")[1].split()[0])

        check_equal(promiscuity(), 0, "promiscuity before")
        with Daemon(capture_config(lb.name, pcap, promiscuous="true", filter='"udp"'), tmp,
                    wrapper=b.wrapper) as daemon:
            check_equal(promiscuity(), 1, "promiscuity while capturing")
            # A frame for another MAC: b's stack drops it, the capture keeps it (on a veth every frame
            # reaches packet sockets anyway: what promiscuous mode did shows in the promiscuity count).
            with a.socket() as s:
                netns.Network.neighbour(la, "192.0.2.99", "02:00:00:00:00:99")
                s.sendto(b"for another host", ("192.0.2.99", 9))
            daemon.wait_counter(lambda c: netns.captured(c, "cap") >= 1, what="the frame for another MAC")
            check_equal(daemon.stop(), 0, "exit code")
        check_equal(promiscuity(), 0, "promiscuity after the daemon stopped")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        d = [netns.decode(f.linktype, p.data) for p in f.packets]
        check_equal([(x.eth_dst, x.dst, x.payload) for x in d], [("02:00:00:00:00:99", "192.0.2.99",
                                                                  b"for another host")], "captured frame")


if __name__ == "__main__":
    harness.main()
