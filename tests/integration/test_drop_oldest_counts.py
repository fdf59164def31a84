# SPDX-License-Identifier: MIT
# overflow: drop-oldest — a slow or absent reader makes the route drop, and the counters account
# for every message: drops == sent − delivered, and what is delivered is the newest, in order.
import harness
from harness import Daemon, Reader, check, check_equal

LINES = 200_000


def config(port_in, port_out, shutdown="10s"):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: tcp, listen: 127.0.0.1:{port_out}, format: lines}}
routes:
  - from: in
    to: out
    queue: {{max_messages: 10, overflow: drop-oldest}}
daemon: {{shutdown_timeout: {shutdown}}}
"""


def line(i):
    return b"message %07d %s" % (i, b"p" * 64)


def send_all_and_wait_until_read(daemon, port_in):
    """Sends every line, closes, and waits for the daemon to have read up to EOF (a SIGTERM
    before that would stop it reading, by design)."""
    sender = harness.tcp_connect(port_in)
    local = sender.getsockname()[1]
    sender.sendall(b"".join(line(i) + b"\n" for i in range(LINES)))
    sender.close()
    daemon.wait_for_log(rf"Listener 'in': 127\.0\.0\.1:{local} closed", timeout=60)


def test_slow_reader_drops_equal_sent_minus_delivered():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out), tmp) as daemon:
        since = daemon.mark()
        # A small receive buffer: the reader takes little before the route has to drop.
        target = harness.tcp_connect(port_out, rcvbuf=4096)
        daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{target.getsockname()[1]} connected", since=since)
        send_all_and_wait_until_read(daemon, port_in)

        # Only now does the reader read: what was queued and buffered, then EOF at exit.
        reader = Reader(target)
        reader.start()
        check_equal(daemon.stop(), 0, "exit code")
        reader.finish(60)
        delivered = reader.data.split(b"\n")
        check_equal(delivered[-1], b"", "the end of the delivered bytes (a complete last line)")
        delivered = delivered[:-1]

        counters = daemon.final_counters()
        route = counters["routes"]["in->out"]
        print(f"sent {LINES}, delivered {len(delivered)}, route counters {route}")
        check_equal(counters["listeners"]["in"]["messages_in"], LINES, "in.messages_in")
        check(route["drops"] > 0, f"the route dropped nothing: {route}")
        check_equal(route["drops"], LINES - len(delivered), "route drops (sent − delivered)")
        check_equal(route["messages_out"], len(delivered), "route messages_out")
        check_equal(counters["listeners"]["out"]["messages_out"], len(delivered), "out.messages_out")
        # What got through is in order, and it ends with the newest messages.
        numbers = [int(d.split(b" ")[1]) for d in delivered]
        check(numbers == sorted(numbers) and len(set(numbers)) == len(numbers), "delivered lines out of order")
        check_equal(delivered[-1], line(LINES - 1), "the last delivered line")
        check_equal(delivered[-10:], [line(i) for i in range(LINES - 10, LINES)], "the newest 10 lines")


def test_absent_reader_keeps_only_the_newest_and_counts_the_rest():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out, shutdown="1s"), tmp) as daemon:
        send_all_and_wait_until_read(daemon, port_in)
        counters = daemon.counters()
        route = counters["routes"]["in->out"]
        check_equal(route["drops"], LINES - 10, "route drops with nobody to deliver to")
        check_equal(route["messages_out"], 0, "route messages_out")
        # Nobody to deliver to: shutdown gives up after shutdown_timeout and says what was left.
        check_equal(daemon.stop(), 0, "exit code")
        daemon.wait_for_log(r"Route 'in->out': 10 messages not delivered at shutdown")
        daemon.wait_for_log(r"Stopped: shutdown timeout reached before every queue drained")
        final = daemon.final_counters()["routes"]["in->out"]
        check_equal(final["drops"], LINES - 10, "final route drops")


if __name__ == "__main__":
    harness.main()
