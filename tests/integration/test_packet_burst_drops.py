# SPDX-License-Identifier: MIT
# A burst into a packet listener with a tiny TPACKET_V3 ring: whatever the daemon cannot keep up
# with, the kernel drops, and those drops (PACKET_STATISTICS) are reported in the counters. Never
# fewer captured with no drops reported: for a filter matching exactly the burst,
#   captured + kernel_drops == frames that reached the interface
# and what the pcap holds is the captured frames (less only drops the daemon counted itself), in
# the order sent.
import os
import signal

import harness
import netns
from harness import Daemon, check, check_equal

A, B = "192.0.2.1", "192.0.2.2"
TINY_RING = "{block_size: 4KiB, blocks: 2, frame_size: 2048, timeout: 1ms}"


def setup(net):
    a, b = net.host("a"), net.host("b")
    la, lb = net.link(a, b, v4=(f"{A}/24", f"{B}/24"))
    net.up()
    return a, b, la, lb


def config(interface, pcap, port):
    return netns.pcap_capture_config(interface, pcap, port, f"    snaplen: 128\n    ring: {TINY_RING}\n")


def burst(a, port, count):
    """`count` datagrams as fast as one socket sends them, each carrying its index."""
    payloads = (b"%08d" % i for i in range(count))
    netns.send_udp(a, (B, port), payloads, bind=(A, 0))


def route_drops(counters):
    return sum(r.get("drops", 0) for r in counters.get("routes", {}).values())


def check_accounted(daemon, pcap, arrived, sent):
    """Stops the daemon and checks that every frame that arrived is captured or reported dropped."""
    counters = daemon.wait_counter(
        lambda c: netns.captured(c, "cap") + netns.kernel_drops(c, "cap") >= arrived, timeout=60,
        what=f"captured + kernel_drops to reach the {arrived} frames that arrived")
    check_equal(daemon.stop(), 0, "exit code")
    final = daemon.final_counters()
    captured, dropped = netns.captured(final, "cap"), netns.kernel_drops(final, "cap")
    print(f"sent {sent}, arrived {arrived}, captured {captured}, kernel drops {dropped}, "
          f"route drops {route_drops(final)}")
    check_equal(captured + dropped, arrived, f"captured ({captured}) + kernel drops ({dropped}) vs frames that "
                f"arrived ({arrived}; sent {sent})")
    check(dropped > 0 or captured == arrived, "frames missing with no kernel drops reported")
    check(netns.captured(counters, "cap") <= captured, "captured went down")
    f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
    check_equal(len(f.packets) + route_drops(final), captured, "frames in the pcap + route drops vs captured")
    indexes = [int(netns.decode(f.linktype, p.data).payload) for p in f.packets]
    check(all(x < y for x, y in zip(indexes, indexes[1:])), "pcap frames are not in the order sent")
    check(all(0 <= x < sent for x in indexes), "a frame in the pcap that was not sent")
    netns.tcpdump_read(pcap, expect_packets=len(f.packets))
    return captured, dropped


def test_burst_while_the_daemon_is_stopped_is_reported_as_kernel_drops():
    """SIGSTOP makes the daemon read nothing: the ring (8 KiB) fills and the kernel must drop."""
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = setup(net)
        port, count = 40000 + os.getpid() % 1000, 3000
        pcap = os.path.join(tmp, "paused.pcap")
        with Daemon(config(lb.name, pcap, port), tmp, wrapper=b.wrapper) as daemon:
            before = lb.stat("rx_packets")
            os.kill(daemon.pid, signal.SIGSTOP)
            try:
                burst(a, port, count)
            finally:
                os.kill(daemon.pid, signal.SIGCONT)
            arrived = lb.stat("rx_packets") - before
            captured, dropped = check_accounted(daemon, pcap, arrived, count)
        check(dropped > 0, f"no kernel drops reported though {arrived} frames met an 8 KiB ring of a stopped "
              f"reader ({captured} captured)")
        check(captured > 0, "nothing captured: the ring's contents were lost after SIGCONT")


def test_burst_into_a_tiny_ring_is_captured_or_counted():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b, la, lb = setup(net)
        port, count = 41000 + os.getpid() % 1000, 30000
        pcap = os.path.join(tmp, "burst.pcap")
        with Daemon(config(lb.name, pcap, port), tmp, wrapper=b.wrapper) as daemon:
            before = lb.stat("rx_packets")
            burst(a, port, count)
            arrived = lb.stat("rx_packets") - before
            check_accounted(daemon, pcap, arrived, count)


if __name__ == "__main__":
    harness.main()
