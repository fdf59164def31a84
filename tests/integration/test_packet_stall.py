# SPDX-License-Identifier: MIT
# Stall tolerance of the packet listener's TPACKET_V3 ring: while the daemon is stopped (SIGSTOP,
# as a loaded host deschedules it), traffic that fits the ring's memory must still all reach the
# pcap once it runs again, with no kernel drop. The sender paces its datagrams over about a
# second, so many block timeouts pass during the stop: a ring whose blocks are retired by their
# timeout holding a few packets each (the old default, 8 blocks of 1 MiB and 10 ms, about 80 ms
# of this traffic) drops, one whose blocks fill first keeps everything. The geometry in use is
# the one the daemon logs at start.
import os
import re
import signal
import time

import harness
import netns
from harness import Daemon, check_equal

A, B = "192.0.2.1", "192.0.2.2"
COUNT = 1000  # ~1 s of datagrams at one per millisecond


def paced(count, gap=0.001):
    """`count` payloads carrying their index, `gap` seconds apart (at least): the traffic spans
    many block timeouts."""
    for i in range(count):
        yield b"%08d" % i
        time.sleep(gap)


def capture_while_stopped(interface_end, sender, pcap, port, extra, geometry):
    """Starts the daemon, checks it logs `geometry` (a regex), stops it, sends COUNT paced datagrams,
    resumes it; every datagram must be in the pcap, in order, with no kernel drop."""
    with harness.temp_dir() as tmp:
        config = netns.pcap_capture_config(interface_end.name, pcap, port, extra)
        with Daemon(config, tmp, wrapper=interface_end.host.wrapper) as daemon:
            daemon.wait_for_log(rf"Listener 'cap' on interface {re.escape(interface_end.name)} \(raw, ring "
                                + geometry, what="the ring geometry in the listener's start line")
            before = interface_end.stat("rx_packets")
            os.kill(daemon.pid, signal.SIGSTOP)
            try:
                netns.send_udp(sender, (B, port), paced(COUNT), bind=(A, 0))
            finally:
                os.kill(daemon.pid, signal.SIGCONT)
            arrived = interface_end.stat("rx_packets") - before
            check_equal(arrived, COUNT, "datagrams that reached the capturing interface")
            daemon.wait_counter(lambda c: netns.captured(c, "cap") + netns.kernel_drops(c, "cap") >= COUNT,
                                timeout=30, what=f"the {COUNT} datagrams to be captured or dropped")
            check_equal(daemon.stop(), 0, "exit code")
            final = daemon.final_counters()
        check_equal(netns.kernel_drops(final, "cap"), 0, "kernel drops while the daemon was stopped")
        check_equal(netns.captured(final, "cap"), COUNT, "captured datagrams")
        f = netns.load_pcap(pcap, linktype=netns.LINKTYPE_ETHERNET)
        indexes = [int(netns.decode(f.linktype, p.data).payload) for p in f.packets]
        check_equal(indexes, list(range(COUNT)), "datagram indexes in the pcap")
        netns.tcpdump_read(pcap, expect_packets=COUNT)


def run(pcap_name, port, extra, geometry):
    with netns.Network() as net, harness.temp_dir() as out:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b, v4=(f"{A}/24", f"{B}/24"))
        net.up()
        capture_while_stopped(lb, a, os.path.join(out, pcap_name), port, extra, geometry)


def test_default_ring_rides_out_a_stopped_daemon():
    """Default ring of a capture to a log: 8 MiB in 64 blocks of 128 KiB (the default snaplen),
    200 ms timeout."""
    run("default.pcap", 42000 + os.getpid() % 1000, "", r"8MiB: 64 blocks of 128KiB, timeout 200ms")


def test_small_ring_as_set_holds_what_fits_it():
    """`ring: {size: 256KiB, timeout: 1s}` with snaplen 2048: 8 blocks of 32 KiB, each holding
    about 220 of these datagrams; COUNT of them fill 5, so none may be lost."""
    run("small.pcap", 43000 + os.getpid() % 1000, "    snaplen: 2048\n    ring: {size: 256KiB, timeout: 1s}\n",
        r"256KiB: 8 blocks of 32KiB, timeout 1000ms")


if __name__ == "__main__":
    harness.main()
