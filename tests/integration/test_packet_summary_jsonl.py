# SPDX-License-Identifier: MIT
# The packet-jsonl log: one JSON object per captured frame with its L2/L3/L4 headers decoded. The
# same capture is logged as pcap too, and every record is compared with the frame it summarizes
# (decoded here) and with what the test sent: ARP, UDP over IPv4 and IPv6, TCP flags, ICMP,
# a VLAN tag, and a frame cut by the snap length.
import os
import socket
import struct

import harness
import netns
from harness import Daemon, check, check_equal

A4, B4 = "192.0.2.1", "192.0.2.2"
A6, B6 = "2001:db8:5::1", "2001:db8:5::2"
VA, VB = "198.51.100.1", "198.51.100.2"   # inside the VLAN-tagged frames


def config(interface, pcap_path, jsonl_path, bpf, snaplen=None):
    snap = f"    snaplen: {snaplen}\n" if snaplen else ""
    return f"""\
listeners:
  cap:
    type: packet
    interface: {interface}
    filter: "{bpf}"
{snap}routes:
  - from: cap
    log: {{path: {pcap_path}, format: pcap}}
  - from: cap
    log: {{path: {jsonl_path}, format: packet-jsonl}}
"""


TCP_FLAG_LETTERS = "FSRPAUEC"


def flag_text(flags):
    return "".join(letter for bit, letter in enumerate(TCP_FLAG_LETTERS) if flags & (1 << bit))


def expected_record(frame, packet):
    """The fields a summary of `frame` must have (from our own decoding of the pcap record)."""
    e = {"source": "cap", "link": "ethernet", "len": packet.length, "caplen": packet.caplen,
         "ts_ns": packet.ts_ns, "src_mac": frame.eth_src, "dst_mac": frame.eth_dst,
         "ethertype": f"0x{frame.ethertype:04x}"}
    if frame.get("ip_version") == 4:
        e.update(l3="ipv4", src=frame.src, dst=frame.dst, ttl=frame.ttl)
    elif frame.get("ip_version") == 6:
        e.update(l3="ipv6", src=frame.src, dst=frame.dst, hop_limit=frame.ttl)
    l4 = frame.get("l4")
    if l4 in ("udp", "tcp"):
        e.update(proto=l4, src_port=frame.sport, dst_port=frame.dport)
        if l4 == "tcp":
            e["tcp_flags"] = flag_text(frame.flags)
    elif l4 in ("icmp", "icmpv6"):
        e.update(proto=l4, icmp_type=frame.icmp_type, icmp_code=frame.icmp_code)
    return e


def compare(records, pcap):
    check_equal(len(records), len(pcap.packets), "jsonl records vs pcap records")
    for n, (record, packet) in enumerate(zip(records, pcap.packets)):
        frame = netns.decode(pcap.linktype, packet.data)
        for key, value in expected_record(frame, packet).items():
            check_equal(record.get(key), value, f"record {n} '{key}' (record: {record})")
        check(isinstance(record.get("ts"), str) and record["ts"][:4].isdigit(), f"record {n}: ts {record.get('ts')!r}")


def test_summary_fields_match_each_frame():
    with netns.Network(ipv6=True) as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b, v4=(f"{A4}/24", f"{B4}/24"), v6=(f"{A6}/64", f"{B6}/64"))
        net.up(static_neighbours=False)                  # the first IPv4 datagram needs ARP
        netns.Network.neighbour(la, B6, lb.mac)          # but no neighbour discovery for IPv6
        netns.Network.neighbour(lb, A6, la.mac)
        pcap, jsonl = os.path.join(tmp, "s.pcap"), os.path.join(tmp, "s.jsonl")
        with b.socket() as r4, b.socket(socket.AF_INET6) as r6:
            r4.bind((B4, 0))
            port = r4.getsockname()[1]
            r6.bind((B6, port))
            tcp_port = port + 1 if port < 65535 else port - 1
            bpf = f"arp or icmp or port {port} or port {tcp_port}"
            with Daemon(config(lb.name, pcap, jsonl, bpf), tmp, wrapper=b.wrapper) as daemon:
                src4 = netns.send_udp(a, (B4, port), [b"v4 one", b"v4 two"])
                src6 = netns.send_udp(a, (B6, port), [b"v6 one"], family=socket.AF_INET6)
                for r in (r4, r4, r6):
                    harness.recv_datagram(r)
                netns.ping(a, B4, 0x5151, 1, b"summarize me")
                client = netns.tcp_exchange(a, b, B4, tcp_port, b"hello", b"world")
                expected_min = 2 + 2 + 1 + 2 + 6   # ARP both ways, UDP, ICMP, at least 6 TCP
                daemon.wait_counter(lambda c: netns.captured(c, "cap") >= expected_min, what="the frames")
                check_equal(daemon.stop(), 0, "exit code")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        records = harness.read_jsonl(jsonl)
        compare(records, f)
        # And against what was sent.
        arp = [r for r in records if r.get("l3") == "arp"]
        check_equal([(r["arp_op"], r["sender_ip"], r["target_ip"], r["sender_mac"]) for r in arp][:2],
                    [("request", A4, B4, la.mac), ("reply", B4, A4, lb.mac)], "ARP records")
        check_equal(arp[0]["dst_mac"], "ff:ff:ff:ff:ff:ff", "ARP request to broadcast")
        udp = [r for r in records if r.get("proto") == "udp"]
        check_equal([(r["l3"], r["src"], r["src_port"], r["dst"], r["dst_port"], r["len"]) for r in udp],
                    [("ipv4", src4[0], src4[1], B4, port, 14 + 20 + 8 + 6)] * 2
                    + [("ipv6", src6[0], src6[1], B6, port, 14 + 40 + 8 + 6)], "UDP records")
        icmp = [r for r in records if r.get("proto") == "icmp"]
        check_equal([(r["src"], r["icmp_type"], r["icmp_code"]) for r in icmp], [(A4, 8, 0), (B4, 0, 0)],
                    "ICMP records")
        tcp = [r for r in records if r.get("proto") == "tcp"]
        check_equal((tcp[0]["tcp_flags"], tcp[0]["src_port"], tcp[0]["dst_port"]), ("S", client[1], tcp_port),
                    "first TCP record: the SYN")
        check_equal((tcp[1]["tcp_flags"], tcp[1]["src_port"]), ("SA", tcp_port), "second TCP record: SYN-ACK")
        check(any("F" in r["tcp_flags"] for r in tcp), "a FIN among the TCP records")
        check(all(r.get("interface") in (lb.name, lb.ifindex) for r in records),
              f"interface of every record is {lb.name}: {set(str(r.get('interface')) for r in records)}")


def udp_frame(src_mac, dst_mac, src, dst, sport, dport, payload, vlan=None):
    """An Ethernet frame (802.1Q-tagged when `vlan` is set) holding IPv4/UDP, checksums complete."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", netns.checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src),
                     socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", netns.checksum(ip)) + ip[12:]
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + tag + \
        b"\x08\x00" + ip + udp


def test_summary_of_vlan_tagged_and_snapped_frames():
    """A tagged frame (sent whole from a packet socket in a): the receiving kernel moves the tag
    out of the frame into metadata before packet sockets see it; the capture must put it back, and
    a tcpdump-style "vlan 7" filter must match it as it does in tcpdump."""
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b)
        net.up()
        pcap, jsonl = os.path.join(tmp, "v.pcap"), os.path.join(tmp, "v.jsonl")
        port = 7007
        payload = b"tagged " + b"t" * 100
        frame = udp_frame(la.mac, lb.mac, VA, VB, 5555, port, payload, vlan=7)
        with Daemon(config(lb.name, pcap, jsonl, f"vlan 7 and udp port {port}", snaplen=64), tmp,
                    wrapper=b.wrapper) as daemon:
            with a.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind((la.name, 0))
                s.send(udp_frame(la.mac, lb.mac, VA, VB, 5555, port, b"untagged: not matched"))
                s.send(udp_frame(la.mac, lb.mac, VA, VB, 5555, port, b"vlan 8: not matched", vlan=8))
                s.send(frame)
            daemon.wait_counter(lambda c: netns.captured(c, "cap") >= 1, timeout=10, what="the VLAN 7 frame")
            check_equal(daemon.stop(), 0, "exit code")
        check_equal(netns.captured(daemon.final_counters(), "cap"), 1, "captured: only the VLAN 7 frame")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        check_equal(len(f.packets), 1, "frames in the pcap")
        p = f.packets[0]
        check_equal((p.caplen, p.length), (64, len(frame)), "caplen and len of the tagged frame")
        check_equal(p.data, frame[:64], "the captured frame: as sent, tag included, cut at 64 bytes")
        records = harness.read_jsonl(jsonl)
        check_equal(len(records), 1, "jsonl records")
        rec = records[0]
        for key, value in {"vlan": [7], "ethertype": "0x0800", "l3": "ipv4", "src": VA, "dst": VB,
                           "proto": "udp", "src_port": 5555, "dst_port": port, "len": len(frame),
                           "caplen": 64, "src_mac": la.mac, "dst_mac": lb.mac}.items():
            check_equal(rec.get(key), value, f"'{key}' of {rec}")
        lines = netns.tcpdump_read(pcap, ["-e"], expect_packets=1)
        check("vlan 7" in lines[0], f"tcpdump -e shows the VLAN: {lines[0]}")


if __name__ == "__main__":
    harness.main()
