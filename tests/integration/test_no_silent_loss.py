# SPDX-License-Identifier: MIT
# Nothing accepted is lost: a fast sender does not overflow a queue whose target keeps up, and
# bytes already in the kernel's buffers when SIGTERM arrives still reach the log.
import os

import harness
from harness import Daemon, check, check_equal


def test_fast_small_lines_to_a_log_are_not_dropped_with_the_default_queue():
    # One 64 KiB read holds thousands of short lines, more than half the default queue (4096):
    # the log must take them as they come instead of dropping what the queue cannot hold.
    port = harness.free_tcp_port()
    count = 200000
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "lines.raw")
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port}, format: lines}}
routes:
  - from: in
    log: {{path: {log_path}, format: raw}}
"""
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port)
            local = sender.getsockname()[1]
            sender.sendall(b"".join(b"%d\n" % i for i in range(count)))
            sender.close()
            daemon.wait_for_log(rf"Listener 'in': 127\.0\.0\.1:{local} closed")
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
        route = counters["routes"][f"in->log:{log_path}"]
        check_equal(route["drops"], 0, "route drops")
        check_equal(route["messages_out"], count, "messages logged")
        with open(log_path, "rb") as f:
            check_equal(f.read(), b"".join(b"%d" % i for i in range(count)), "log contents")


def test_bytes_waiting_in_the_kernel_at_sigterm_reach_the_log():
    # A `block` route to a client that never reads pauses the source, so the sender's later
    # lines sit in the daemon's socket buffer. SIGTERM must still read and log them: the kernel
    # acknowledged them to the sender.
    in_port, out_port = harness.free_tcp_port(), harness.free_tcp_port()
    count = 20000
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "events.jsonl")
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{in_port}, format: lines}}
  out: {{type: tcp, listen: 127.0.0.1:{out_port}, format: lines}}
routes:
  - from: in
    to: out
    queue: {{max_messages: 16, overflow: block}}
  - from: in
    log: {{path: {log_path}, format: jsonl}}
    queue: {{max_messages: 100000, max_bytes: 64MiB}}
daemon: {{shutdown_timeout: 1s}}
"""
        with Daemon(cfg, tmp) as daemon:
            stalled = harness.tcp_connect(out_port, rcvbuf=4096)
            daemon.wait_for_log(r"Listener 'out': client .* connected")
            sender = harness.tcp_connect(in_port)
            payload = b"".join(b"line %05d\n" % i for i in range(count))
            sender.sendall(payload)  # fits in the daemon's receive buffer and ours
            # The source is paused by back-pressure (a bounded wait for that log-less state:
            # the stalled client's queue fills, so in->out stops taking messages).
            daemon.wait_counter(lambda c: c["routes"]["in->out"]["messages_in"] > 0, what="traffic to 'out'")
            check_equal(daemon.stop(), 0, "exit code")
            stalled.close()
            sender.close()
        records = harness.read_jsonl(log_path)
        check_equal([r["text"] for r in records], ["line %05d" % i for i in range(count)], "logged lines")


def test_datagrams_the_kernel_drops_for_a_full_receive_buffer_are_counted():
    # A `block` route to a client that never reads stops the daemon reading its udp socket, so
    # the kernel drops what does not fit in the socket's buffer. Those datagrams never reach the
    # daemon, yet they are counted (kernel_drops, from SO_RXQ_OVFL): received + dropped = sent.
    in_port, out_port = harness.free_udp_port(), harness.free_tcp_port()
    count, size = 3000, 1000
    cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{in_port}, receive_buffer: 64KiB}}
  out: {{type: tcp, listen: 127.0.0.1:{out_port}}}
routes:
  - {{from: in, to: out, queue: {{max_messages: 16, overflow: block}}}}
"""
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        stalled = harness.tcp_connect(out_port, rcvbuf=4096)
        daemon.wait_for_log(r"Listener 'out': client .* connected")
        sender = harness.udp_socket()
        for i in range(count):
            sender.sendto(b"%05d" % i + b"d" * (size - 5), ("127.0.0.1", in_port))
        reader = harness.Reader(stalled, keep=False)
        reader.start()
        # The daemon reads again: one more datagram brings the kernel's count of the dropped ones.
        daemon.wait_counter(lambda c: c["routes"]["in->out"]["messages_out"] == c["listeners"]["in"]["messages_in"],
                            what="the queue to empty")
        sender.sendto(b"last", ("127.0.0.1", in_port))
        counters = daemon.wait_counter(
            lambda c: c["listeners"]["in"]["messages_in"] + c["listeners"]["in"]["kernel_drops"] == count + 1,
            what="received + kernel drops = sent")["listeners"]["in"]
        print(f"{count + 1} datagrams sent: {counters['messages_in']} read, {counters['kernel_drops']} dropped by "
              "the kernel")
        check(counters["kernel_drops"] > 0, "the kernel dropped nothing: the test did not fill the buffer")
        reader.stop()
        check_equal(daemon.stop(), 0, "exit code")


if __name__ == "__main__":
    harness.main()
