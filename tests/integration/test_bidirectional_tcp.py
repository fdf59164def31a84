# SPDX-License-Identifier: MIT
# A bidirectional route between a listening and a connecting tcp listener carries bytes both ways.
import random

import harness
from harness import Daemon, Reader, Sender, check_equal, recv_exactly


def config(port_front, port_back, fmt="raw"):
    return f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{port_front}, format: {fmt}}}
  back: {{type: tcp, connect: 127.0.0.1:{port_back}, format: {fmt}, reconnect: {{initial: 50ms, max: 1s}}}}
routes:
  - from: front
    to: back
    bidirectional: true
    queue: {{overflow: block}}
"""


def connect_front(daemon, port):
    since = daemon.mark()
    s = harness.tcp_connect(port)
    daemon.wait_for_log(rf"Listener 'front': client 127\.0\.0\.1:{s.getsockname()[1]} connected", since=since)
    return s


def test_lines_go_both_ways():
    port_front = harness.free_tcp_port()
    with harness.tcp_server() as server, harness.temp_dir() as tmp:
        port_back = server.getsockname()[1]
        with Daemon(config(port_front, port_back, "lines"), tmp) as daemon:
            upstream = harness.accept(server, what="the daemon's connection to 'back'")
            client = connect_front(daemon, port_front)
            client.sendall(b"request 1\nrequest 2\n")
            check_equal(recv_exactly(upstream, 20), b"request 1\nrequest 2\n", "bytes at the upstream")
            upstream.sendall(b"reply 1\r\nreply 2\n")
            check_equal(recv_exactly(client, 16), b"reply 1\nreply 2\n", "bytes at the client")
            client.sendall(b"request 3\n")
            check_equal(recv_exactly(upstream, 10), b"request 3\n", "bytes at the upstream")
            client.close()
            upstream.close()
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            check_equal(counters["listeners"]["front"]["messages_in"], 3, "front.messages_in")
            check_equal(counters["listeners"]["back"]["messages_in"], 2, "back.messages_in")
            check_equal(counters["routes"]["front->back"]["messages_out"], 3, "front->back.messages_out")
            check_equal(counters["routes"]["back->front"]["messages_out"], 2, "back->front.messages_out")


def test_megabytes_both_ways_at_once_arrive_intact():
    port_front = harness.free_tcp_port()
    rng = random.Random(1)
    up = rng.randbytes(4 << 20)
    down = rng.randbytes(4 << 20)
    with harness.tcp_server() as server, harness.temp_dir() as tmp:
        port_back = server.getsockname()[1]
        with Daemon(config(port_front, port_back), tmp) as daemon:
            upstream = harness.accept(server, what="the daemon's connection to 'back'")
            client = connect_front(daemon, port_front)
            readers = [Reader(upstream), Reader(client)]
            senders = [Sender(client, up), Sender(upstream, down)]
            for t in readers + senders:
                t.start()
            for s in senders:
                s.finish(60)
            readers[0].wait_count(len(up), 60)
            readers[1].wait_count(len(down), 60)
            for r in readers:
                r.stop()
            check_equal(readers[0].data, up, "bytes at the upstream")
            check_equal(readers[1].data, down, "bytes at the client")
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            for name in ("front->back", "back->front"):
                check_equal(counters["routes"][name]["drops"], 0, f"{name}.drops")


if __name__ == "__main__":
    harness.main()
