# SPDX-License-Identifier: MIT
# A connecting tcp listener reconnects when its peer goes away and comes back on the same port.
import harness
from harness import Daemon, check, check_equal, recv_exactly


def config(port_in, port_out):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: tcp, connect: 127.0.0.1:{port_out}, format: lines, reconnect: {{initial: 50ms, max: 200ms}}}}
routes:
  - from: in
    to: out
"""


def test_messages_after_the_peer_restarts_arrive():
    port_in = harness.free_tcp_port()
    server = harness.tcp_server()
    port_out = server.getsockname()[1]
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out), tmp) as daemon:
        upstream = harness.accept(server, what="the daemon's first connection")
        sender = harness.tcp_connect(port_in)
        sender.sendall(b"before 1\nbefore 2\n")
        check_equal(recv_exactly(upstream, 18), b"before 1\nbefore 2\n", "bytes before the restart")

        # The peer goes away entirely: connection and listening socket.
        since = daemon.mark()
        upstream.close()
        server.close()
        daemon.wait_for_log(r"Listener 'out': no connection to 127\.0\.0\.1:\d+ \(\d+ attempts\): .*; retrying in", since=since)
        # ... and comes back on the same port.
        since = daemon.mark()
        server = harness.tcp_server(port_out)
        upstream = harness.accept(server, what="the daemon's reconnection")
        daemon.wait_for_log(r"Listener 'out': connected to 127\.0\.0\.1:\d+", since=since)
        lines = b"".join(b"after %d\n" % i for i in range(100))
        sender.sendall(lines)
        check_equal(recv_exactly(upstream, len(lines)), lines, "bytes after the restart")

        sender.close()
        daemon.wait_for_log(r"Listener 'in': 127\.0\.0\.1:\d+ closed")
        check_equal(daemon.stop(), 0, "exit code")
        out = daemon.final_counters()["listeners"]["out"]
        check(out["reconnects"] >= 1, f"out.reconnects is {out['reconnects']}, expected at least 1")
        check(out["connects"] >= 2, f"out.connects is {out['connects']}, expected at least 2")
        check_equal(out["messages_out"], 102, "out.messages_out")
        upstream.close()
        server.close()


def test_messages_queued_while_the_peer_is_down_arrive_once_it_is_up():
    port_in = harness.free_tcp_port()
    port_out = harness.free_tcp_port()  # nobody listens there yet
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out), tmp) as daemon:
        daemon.wait_for_log(r"Listener 'out': no connection to 127\.0\.0\.1:\d+ \(\d+ attempts\): connect failed: "
                            r"Connection refused; retrying in")
        sender = harness.tcp_connect(port_in)
        sender.sendall(b"queued 1\nqueued 2\n")
        daemon.wait_counter(lambda c: c["routes"]["in->out"]["messages_in"] == 2, what="2 messages queued")
        with harness.tcp_server(port_out) as server:
            upstream = harness.accept(server, what="the daemon's connection once the peer is up")
            check_equal(recv_exactly(upstream, 18), b"queued 1\nqueued 2\n", "queued bytes")
            sender.sendall(b"live\n")
            check_equal(recv_exactly(upstream, 5), b"live\n", "bytes sent once connected")
            upstream.close()
        sender.close()
        check_equal(daemon.stop(), 0, "exit code")
        out = daemon.final_counters()["listeners"]["out"]
        check_equal(out["messages_out"], 3, "out.messages_out")


if __name__ == "__main__":
    harness.main()
