# SPDX-License-Identifier: MIT
# UDP and TCP over IPv6 loopback, UDP broadcast on a subnet of a private network namespace, and
# the UDP receive buffer option.
import re
import socket

import harness
from harness import Daemon, check, check_equal


def test_ipv6_tcp_lines_become_ipv6_udp_datagrams():
    port_in = harness.free_tcp_port()
    receiver = harness.udp_socket("::1", 0, socket.AF_INET6)
    port_out = receiver.getsockname()[1]
    with harness.temp_dir() as tmp:
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: "[::1]:{port_in}", format: lines}}
  out: {{type: udp, peer: "[::1]:{port_out}"}}
routes:
  - from: in
    to: out
"""
        with Daemon(cfg, tmp):
            sender = socket.create_connection(("::1", port_in), timeout=harness.IO_TIMEOUT)
            sender.sendall(b"one\ntwo\n")
            check_equal(harness.recv_datagrams(receiver, 2), [b"one", b"two"], "datagrams over ::1")
            sender.close()
    receiver.close()


SUBNET_SETUP = [
    ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
    ["addr", "add", "192.0.2.1/24", "brd", "+", "dev", "v0"],
    ["link", "set", "v0", "up"],
    ["link", "set", "v1", "up"],
]


def test_broadcast_reaches_a_receiver_on_the_subnet():
    harness.require_root("a veth subnet needs its own network namespace")
    with harness.network_namespace(SUBNET_SETUP) as ns, harness.temp_dir() as tmp:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        receiver.bind(("0.0.0.0", 0))
        port_out = receiver.getsockname()[1]
        port_in = harness.free_tcp_port()
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  everyone: {{type: udp, bind: "192.0.2.1:0", peer: "192.0.2.255:{port_out}", broadcast: true}}
routes:
  - from: in
    to: everyone
"""
        with Daemon(cfg, tmp, wrapper=["ip", "netns", "exec", ns]) as daemon:
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"hello subnet\n")
            check_equal(harness.recv_datagram(receiver), b"hello subnet", "the broadcast datagram")
            sender.close()
            daemon.wait_for_log(r"Listener 'in': 127\.0\.0\.1:\d+ closed")
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            check_equal(counters["listeners"]["everyone"]["messages_out"], 1, "broadcasts sent")
            check_equal(counters["listeners"]["everyone"]["errors"], 0, "send errors")
        receiver.close()


def test_receive_buffer_is_applied():
    # ss reports the socket's receive buffer as skmem rb (the kernel doubles what was asked).
    port = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port}, receive_buffer: 8MiB}}
routes:
  - from: in
    log: {{path: {tmp}/in.log}}
"""
        with Daemon(cfg, tmp):
            out = harness.run(["ss", "-u", "-a", "-n", "-m", "sport", "=", f":{port}"]).stdout.decode()
        match = re.search(r"skmem:\(r\d+,rb(\d+)", out)
        check(match is not None, f"ss shows the socket's memory: {out!r}")
        check(int(match.group(1)) >= 8 << 20, f"receive buffer {match.group(1)} >= 8 MiB")


if __name__ == "__main__":
    harness.main()
