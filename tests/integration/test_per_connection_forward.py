# SPDX-License-Identifier: MIT
# per_connection: each client of a listening tcp listener gets its own upstream connection, bytes
# go both ways, and a half-close is passed on in each direction.
import random
import socket

import harness
from harness import Daemon, Reader, Sender, check, check_equal, recv_exactly, recv_until_eof


def config(port_front, port_back):
    return f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{port_front}}}
  back: {{type: tcp, connect: 127.0.0.1:{port_back}}}
routes:
  - from: front
    to: back
    per_connection: true
"""


def open_pair(daemon, server, port_front):
    """A client of 'front' and the upstream connection the daemon opened for it."""
    since = daemon.mark()
    client = harness.tcp_connect(port_front)
    daemon.wait_for_log(rf"Listener 'front': client 127\.0\.0\.1:{client.getsockname()[1]} connected", since=since)
    upstream = harness.accept(server, what="the daemon's upstream connection for a client")
    return client, upstream


def test_each_client_gets_its_own_upstream_and_half_close_propagates():
    port_front = harness.free_tcp_port()
    with harness.tcp_server() as server, harness.temp_dir() as tmp:
        with Daemon(config(port_front, server.getsockname()[1]), tmp) as daemon:
            pairs = [open_pair(daemon, server, port_front) for _ in range(2)]
            check(pairs[0][1].getpeername() != pairs[1][1].getpeername(), "the two upstreams are one connection")
            for n, (client, upstream) in enumerate(pairs):
                client.sendall(b"hello from client %d" % n)
            for n, (client, upstream) in enumerate(pairs):
                check_equal(recv_exactly(upstream, 19), b"hello from client %d" % n, f"bytes at upstream {n}")
            for n, (client, upstream) in enumerate(pairs):
                upstream.sendall(b"hello client %d" % n)
            for n, (client, upstream) in enumerate(pairs):
                check_equal(recv_exactly(client, 14), b"hello client %d" % n, f"bytes at client {n}")

            # Client 0 half-closes: its upstream sees EOF, replies, closes; the client gets the
            # reply, then EOF. Client 1 is untouched meanwhile.
            client, upstream = pairs[0]
            client.sendall(b"last words")
            client.shutdown(socket.SHUT_WR)
            data, reset = recv_until_eof(upstream)
            check_equal((data, reset), (b"last words", False), "upstream 0 until EOF")
            upstream.sendall(b"the reply after EOF")
            upstream.close()
            data, reset = recv_until_eof(client)
            check_equal((data, reset), (b"the reply after EOF", False), "client 0 until EOF")
            client.close()

            client, upstream = pairs[1]
            client.sendall(b"still here")
            check_equal(recv_exactly(upstream, 10), b"still here", "bytes at upstream 1")
            upstream.sendall(b"so am I")
            check_equal(recv_exactly(client, 7), b"so am I", "bytes at client 1")

            # Now the other way round: the upstream half-closes first.
            upstream.shutdown(socket.SHUT_WR)
            check_equal(recv_until_eof(client), (b"", False), "client 1 after its upstream half-closed")
            client.sendall(b"answer after EOF")
            client.close()
            check_equal(recv_until_eof(upstream), (b"answer after EOF", False), "upstream 1 until EOF")
            upstream.close()

            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            check_equal(counters["listeners"]["front"]["connects"], 2, "front.connects")
            check_equal(counters["listeners"]["back"]["connects"], 2, "back.connects")


def test_megabytes_both_ways_per_client_arrive_intact():
    port_front = harness.free_tcp_port()
    rng = random.Random(7)
    with harness.tcp_server() as server, harness.temp_dir() as tmp:
        with Daemon(config(port_front, server.getsockname()[1]), tmp) as daemon:
            pairs = [open_pair(daemon, server, port_front) for _ in range(2)]
            up = [rng.randbytes(3 << 20) for _ in pairs]
            down = [rng.randbytes(3 << 20) for _ in pairs]
            threads = []
            for n, (client, upstream) in enumerate(pairs):
                threads += [Reader(upstream), Reader(client),
                            Sender(client, up[n], shutdown_after=True), Sender(upstream, down[n], shutdown_after=True)]
            for t in threads:
                t.start()
            for t in threads:
                t.finish(90)  # senders: all sent and shut down; readers: EOF passed on
            for n in range(len(pairs)):
                readers = threads[4 * n:4 * n + 2]
                check_equal(readers[0].data, up[n], f"bytes at upstream {n}")
                check_equal(readers[1].data, down[n], f"bytes at client {n}")
                check(not readers[0].reset and not readers[1].reset, f"pair {n} was reset")
            for client, upstream in pairs:
                client.close()
                upstream.close()
            check_equal(daemon.stop(), 0, "exit code")


if __name__ == "__main__":
    harness.main()
