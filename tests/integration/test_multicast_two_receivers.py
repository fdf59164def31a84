# SPDX-License-Identifier: MIT
# udp multicast on lo, inside a private network namespace: the daemon sends to a group and both
# joined receivers get every datagram; a daemon that joins a group receives what is sent to it.
import socket
import struct

import harness
from harness import Daemon, check_equal

GROUP = "239.77.1.2"
NAMESPACE_SETUP = [
    ["link", "set", "lo", "multicast", "on"],
    ["route", "add", "224.0.0.0/4", "dev", "lo"],
]


def group_receiver(port):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    harness.grow_rcvbuf(r, 4 << 20)
    r.bind((GROUP, port))
    request = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("127.0.0.1"))
    r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
    return r


def test_two_joined_receivers_get_every_datagram():
    harness.require_root("multicast routing on lo needs its own network namespace")
    with harness.network_namespace(NAMESPACE_SETUP) as ns, harness.temp_dir() as tmp:
        port_in = harness.free_tcp_port()
        port_group = harness.free_udp_port()
        receivers = [group_receiver(port_group) for _ in range(2)]
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  group:
    type: udp
    peer: {GROUP}:{port_group}
    multicast: {{group: {GROUP}, interface: lo, ttl: 1, loop: true}}
routes:
  - from: in
    to: group
"""
        with Daemon(cfg, tmp, wrapper=["ip", "netns", "exec", ns]) as daemon:
            sender = harness.tcp_connect(port_in)
            lines = [b"reading %03d" % i for i in range(100)]
            for start in range(0, len(lines), 20):
                batch = lines[start:start + 20]
                sender.sendall(b"".join(line + b"\n" for line in batch))
                for n, r in enumerate(receivers):
                    check_equal(harness.recv_datagrams(r, len(batch)), batch, f"receiver {n}, datagrams {start}..")
            sender.close()
            daemon.wait_for_log(r"Listener 'in': 127\.0\.0\.1:\d+ closed")
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            check_equal(counters["listeners"]["group"]["messages_out"], len(lines), "group.messages_out")
            check_equal(counters["listeners"]["group"]["errors"], 0, "group.errors")
        for r in receivers:
            r.close()


def test_daemon_joined_to_a_group_receives_it():
    harness.require_root("multicast routing on lo needs its own network namespace")
    with harness.network_namespace(NAMESPACE_SETUP) as ns, harness.temp_dir() as tmp:
        port_out = harness.free_tcp_port()
        port_group = harness.free_udp_port()
        cfg = f"""\
listeners:
  group:
    type: udp
    bind: {GROUP}:{port_group}
    multicast: {{group: {GROUP}, interface: lo}}
  out: {{type: tcp, listen: 127.0.0.1:{port_out}, format: lines}}
routes:
  - from: group
    to: out
"""
        with Daemon(cfg, tmp, wrapper=["ip", "netns", "exec", ns]) as daemon:
            since = daemon.mark()
            reader = harness.tcp_connect(port_out)
            daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{reader.getsockname()[1]} connected",
                                since=since)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                for i in range(10):
                    s.sendto(b"to the group %d" % i, (GROUP, port_group))
            expected = b"".join(b"to the group %d\n" % i for i in range(10))
            check_equal(harness.recv_exactly(reader, len(expected)), expected, "lines at the tcp reader")
            reader.close()


if __name__ == "__main__":
    harness.main()
