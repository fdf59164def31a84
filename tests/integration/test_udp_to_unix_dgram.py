# SPDX-License-Identifier: MIT
# udp → unix dgram: each datagram arrives whole and unchanged as one unix datagram; replies come back.
import os
import socket

import harness
from harness import Daemon, check_equal


def unix_dgram_server(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    harness.grow_rcvbuf(s, 4 << 20)
    s.bind(path)
    return s


def test_each_udp_datagram_is_one_unix_datagram():
    port_in = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "out.sock")
        with unix_dgram_server(path) as receiver, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}}}
  out: {{type: unix, connect: {path}, socket: dgram}}
routes:
  - from: in
    to: out
"""
            with Daemon(cfg, tmp) as daemon:
                payloads = [b"hello", b"\x00\x01\x02\xff", b"line one\nline two\n", b"z" * 60000,
                            bytes(range(256)) * 10]
                for p in payloads:
                    sender.sendto(p, ("127.0.0.1", port_in))
                    # One at a time: nothing on the way may be lost to a full buffer.
                    check_equal(harness.recv_datagram(receiver), p, f"datagram of {len(p)} bytes")
                many = [b"%05d" % i + b"." * (i % 300) for i in range(300)]
                for start in range(0, len(many), 30):
                    batch = many[start:start + 30]
                    for p in batch:
                        sender.sendto(p, ("127.0.0.1", port_in))
                    check_equal(harness.recv_datagrams(receiver, len(batch)), batch, f"datagrams {start}..")
                check_equal(daemon.stop(), 0, "exit code")
                counters = daemon.final_counters()
                check_equal(counters["listeners"]["in"]["messages_in"], len(payloads) + len(many), "in.messages_in")
                check_equal(counters["listeners"]["out"]["messages_out"], len(payloads) + len(many),
                            "out.messages_out")
                check_equal(counters["listeners"]["out"]["errors"], 0, "out.errors")


def test_unix_replies_go_back_to_the_last_udp_sender():
    port_in = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "service.sock")
        with unix_dgram_server(path) as service, harness.udp_socket() as client:
            cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}}}
  out: {{type: unix, connect: {path}, socket: dgram}}
routes:
  - from: in
    to: out
    bidirectional: true
"""
            with Daemon(cfg, tmp):
                client.sendto(b"ping", ("127.0.0.1", port_in))
                service.settimeout(harness.IO_TIMEOUT)
                data, daemon_address = service.recvfrom(65536)
                check_equal(data, b"ping", "request at the service")
                service.sendto(b"pong", daemon_address)
                check_equal(harness.recv_datagram(client), b"pong", "reply at the udp client")


if __name__ == "__main__":
    harness.main()
