# SPDX-License-Identifier: MIT
# packet listener in cooked mode (AF_PACKET SOCK_DGRAM): the pcap's link type is Linux cooked v2
# (SLL2, 276) and each record's SLL2 header names the protocol, the interface index, the packet
# type (to us / sent by us) and the link-layer source; on every interface at once, the index tells
# which interface a frame crossed. Read with libpcap, tcpdump -r and tshark -r.
import os

import harness
import netns
from harness import Daemon, check, check_equal

PACKET_HOST, PACKET_OUTGOING = 0, 4
ARPHRD_ETHER = 1


def config(interface, pcap_path, bpf):
    return f"""\
listeners:
  cap:
    type: packet
    interface: {interface}
    mode: cooked
    filter: "{bpf}"
routes:
  - from: cap
    log: {{path: {pcap_path}, format: pcap}}
"""


def test_cooked_capture_is_sll2_with_direction_and_interface():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b, v4=("192.0.2.1/24", "192.0.2.2/24"))
        net.up()
        pcap = os.path.join(tmp, "cooked.pcap")
        with b.socket() as receiver:
            receiver.bind(("192.0.2.2", 0))
            port = receiver.getsockname()[1]
            with Daemon(config(lb.name, pcap, f"udp port {port} or icmp"), tmp, wrapper=b.wrapper) as daemon:
                payloads = [b"cooked %d" % i for i in range(3)]
                src = netns.send_udp(a, ("192.0.2.2", port), payloads)
                netns.ping(a, "192.0.2.2", 0x0C00, 1, b"cooked ping")
                daemon.wait_counter(lambda c: netns.captured(c, "cap") >= 5, what="5 captured")
                check_equal(daemon.stop(), 0, "exit code")
        check_equal(netns.captured(daemon.final_counters(), "cap"), 5, "captured (final counters)")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_LINUX_SLL2)
        frames = [netns.decode(f.linktype, p.data) for p in f.packets]
        got = [(d.ethertype, d.sll_ifindex, d.sll_hatype, d.sll_pkttype, d.sll_addr, d.src, d.dst, d.l4,
                d.payload) for d in frames]
        expected = [(netns.ETH_P_IP, lb.ifindex, ARPHRD_ETHER, PACKET_HOST, la.mac, src[0], "192.0.2.2", "udp", p)
                    for p in payloads]
        expected += [(netns.ETH_P_IP, lb.ifindex, ARPHRD_ETHER, PACKET_HOST, la.mac, "192.0.2.1", "192.0.2.2",
                      "icmp", b"cooked ping"),
                     (netns.ETH_P_IP, lb.ifindex, ARPHRD_ETHER, PACKET_OUTGOING, lb.mac, "192.0.2.2", "192.0.2.1",
                      "icmp", b"cooked ping")]
        check_equal(got, expected, "SLL2 records (protocol, ifindex, hatype, packet type, address, IP, payload)")
        for n, p in enumerate(f.packets):
            check_equal(p.length, p.caplen, f"record {n}: caplen")
            check_equal(p.length, 20 + frames[n].ip_total_length, f"record {n}: SLL2 header + IP packet")
        # tcpdump turns the SLL2 interface index into a name where it runs: in b's namespace.
        lines = netns.tcpdump_read(pcap, expect_packets=5, host=b)
        check_equal([line.split()[2] for line in lines], [lb.name] * 5, "interface tcpdump names on each line")
        check_equal([(" In " in line, " Out " in line) for line in lines], [(True, False)] * 4 + [(False, True)],
                    "tcpdump's In/Out of each record")
        fields = netns.tshark_fields(pcap, ["sll.pkttype", "sll.ifindex", "ip.src"])
        if fields is not None:
            check_equal(fields, [("0", str(lb.ifindex), src[0])] * 3 + [("0", str(lb.ifindex), "192.0.2.1"),
                                                                         ("4", str(lb.ifindex), "192.0.2.2")],
                        "tshark: SLL2 packet type, interface index, source")


def test_cooked_capture_on_all_interfaces_tells_them_apart():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, m, c = net.host("a"), net.host("m"), net.host("c")
        am, ma = net.link(a, m, v4=("192.0.2.1/24", "192.0.2.2/24"))
        mc, cm = net.link(m, c, v4=("198.51.100.2/24", "198.51.100.3/24"))
        net.up()
        pcap = os.path.join(tmp, "all.pcap")
        with Daemon(config("any", pcap, "icmp[icmptype] == icmp-echo"), tmp, wrapper=m.wrapper) as daemon:
            netns.ping(a, "192.0.2.2", 0x0A00, 1, b"from a")
            netns.ping(c, "198.51.100.2", 0x0C00, 1, b"from c")
            netns.ping(a, "192.0.2.2", 0x0A00, 2, b"from a again")
            daemon.wait_counter(lambda x: netns.captured(x, "cap") >= 3, what="3 echo requests")
            check_equal(daemon.stop(), 0, "exit code")
        check_equal(netns.captured(daemon.final_counters(), "cap"), 3, "captured (final counters)")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_LINUX_SLL2)
        got = [(d.sll_ifindex, d.sll_pkttype, d.src, d.payload)
               for d in (netns.decode(f.linktype, p.data) for p in f.packets)]
        check_equal(got, [(ma.ifindex, PACKET_HOST, "192.0.2.1", b"from a"),
                          (mc.ifindex, PACKET_HOST, "198.51.100.3", b"from c"),
                          (ma.ifindex, PACKET_HOST, "192.0.2.1", b"from a again")],
                    "records (interface index, packet type, source, payload)")
        lines = netns.tcpdump_read(pcap, expect_packets=3, host=m)
        check_equal([line.split()[2] for line in lines], [ma.name, mc.name, ma.name], "interfaces tcpdump names")


if __name__ == "__main__":
    harness.main()
