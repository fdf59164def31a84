# SPDX-License-Identifier: MIT
# tcp (lines) → udp peer: each line becomes one datagram, in order, without its terminator.

import harness
from harness import Daemon, check_equal


def udp_receiver():
    return harness.udp_socket()


def test_each_line_is_one_datagram():
    port_in = harness.free_tcp_port()
    with udp_receiver() as receiver, harness.temp_dir() as tmp:
        port_out = receiver.getsockname()[1]
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:{port_out}}}
routes:
  - from: in
    to: out
    queue: {{overflow: block}}
"""
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port_in)
            # Split across sends and joined in one send: framing, not the sends, makes datagrams.
            sender.sendall(b"hel")
            sender.sendall(b"lo\r\nwor")
            sender.sendall(b"ld\n\xff\x00bin\nlast\n")
            check_equal(harness.recv_datagrams(receiver, 4), [b"hello", b"world", b"\xff\x00bin", b"last"],
                        "datagrams")
            # In batches a receive buffer surely holds: UDP drops what does not fit, silently.
            lines = [b"%06d:" % i + b"y" * (i % 700) for i in range(500)]
            for start in range(0, len(lines), 50):
                batch = lines[start:start + 50]
                sender.sendall(b"".join(line + b"\n" for line in batch))
                check_equal(harness.recv_datagrams(receiver, len(batch)), batch, f"datagrams {start}..")
            harness.assert_no_datagram(receiver)
            sender.close()
            daemon.wait_for_log(r"Listener 'in': 127\.0\.0\.1:\d+ closed")
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            check_equal(counters["listeners"]["out"]["messages_out"], 504, "out.messages_out")
            check_equal(counters["listeners"]["out"]["drops"], 0, "out.drops")


def test_lines_format_on_udp_keeps_the_newline_in_each_datagram():
    port_in = harness.free_tcp_port()
    with udp_receiver() as receiver, harness.temp_dir() as tmp:
        port_out = receiver.getsockname()[1]
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:{port_out}, format: lines}}
routes:
  - from: in
    to: out
"""
        with Daemon(cfg, tmp):
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"a\nbb\r\nccc\n")
            check_equal(harness.recv_datagrams(receiver, 3), [b"a\n", b"bb\n", b"ccc\n"], "datagrams")
            sender.close()


if __name__ == "__main__":
    harness.main()
