# SPDX-License-Identifier: MIT
# SIGTERM drains the route queues and flushes the logs before exiting 0: nothing the daemon has
# read is lost, and no record is cut.
import os
import signal
import threading

import harness
from harness import Daemon, Reader, check, check_equal


def line(i):
    return b"event %06d %s" % (i, b"e" * (i % 90))


def test_everything_read_before_sigterm_is_in_the_log():
    port = harness.free_tcp_port()
    count = 20000
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "events.jsonl")
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port}, format: lines}}
routes:
  - from: in
    log: {{path: {log_path}, format: jsonl}}
    queue: {{max_messages: 100000, max_bytes: 64MiB}}
"""
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port)
            local = sender.getsockname()[1]
            sender.sendall(b"".join(line(i) + b"\n" for i in range(count)))
            sender.close()
            # Read to the end, then SIGTERM at once: the daemon stops reading on SIGTERM, so
            # waiting for EOF is what makes "everything sent" the same as "everything read".
            daemon.wait_for_log(rf"Listener 'in': 127\.0\.0\.1:{local} closed")
            check_equal(daemon.stop(), 0, "exit code")
            daemon.wait_for_log(r"Stopped: every queue drained")
        records = harness.read_jsonl(log_path)
        check_equal([r["text"].encode() for r in records], [line(i) for i in range(count)], "logged records")


def test_sigterm_in_mid_stream_logs_every_message_read():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "events.jsonl")
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port}, format: lines}}
routes:
  - from: in
    log: {{path: {log_path}, format: jsonl}}
    queue: {{max_messages: 100000, max_bytes: 64MiB, overflow: block}}
"""
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port)
            stop = threading.Event()
            sent = [0]

            def send_forever():
                i = 0
                try:
                    while not stop.is_set():
                        sender.sendall(b"".join(line(n) + b"\n" for n in range(i, i + 500)))
                        i += 500
                        sent[0] = i
                except OSError:
                    pass  # the daemon went away

            thread = threading.Thread(target=send_forever, daemon=True)
            thread.start()
            daemon.wait_counter(lambda c: c["listeners"]["in"]["messages_in"] >= 20000,
                                what="20000 messages read")
            code = daemon.stop()
            stop.set()
            sender.close()
            thread.join(30)
            check_equal(code, 0, "exit code")
            counted = daemon.final_counters()["listeners"]["in"]["messages_in"]
        records = harness.read_jsonl(log_path)  # every line complete JSON
        print(f"sent at least {sent[0]}, read {counted}, logged {len(records)}")
        check_equal(len(records), counted, "records logged vs messages the daemon read")
        check_equal([r["text"].encode() for r in records], [line(i) for i in range(counted)], "logged records")


def test_sigterm_drains_a_queue_to_a_reader_that_was_not_reading():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    count = 200000  # far more than the kernel's socket buffers hold
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "events.jsonl")
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: tcp, listen: 127.0.0.1:{port_out}, format: lines}}
routes:
  - from: in
    to: out
    queue: {{max_messages: 1000000, max_bytes: 256MiB}}
  - from: in
    log: {{path: {log_path}, format: jsonl}}
    queue: {{max_messages: 1000000, max_bytes: 256MiB}}
daemon: {{shutdown_timeout: 30s}}
"""
        with Daemon(cfg, tmp) as daemon:
            since = daemon.mark()
            target = harness.tcp_connect(port_out, rcvbuf=4096)
            daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{target.getsockname()[1]} connected",
                                since=since)
            sender = harness.tcp_connect(port_in)
            local = sender.getsockname()[1]
            sender.sendall(b"".join(line(i) + b"\n" for i in range(count)))
            sender.close()
            daemon.wait_for_log(rf"Listener 'in': 127\.0\.0\.1:{local} closed")
            route = daemon.counters()["routes"]["in->out"]
            check(route["messages_out"] < count, f"nothing left queued before SIGTERM: {route}")
            daemon.proc.send_signal(signal.SIGTERM)
            daemon.wait_for_log(r"Stopping: draining queues")
            # Only now does the reader start; a second SIGTERM would skip the drain, so just wait.
            reader = Reader(target)
            reader.start()
            check_equal(daemon.wait_exit(), 0, "exit code")
            reader.finish()
            daemon.wait_for_log(r"Stopped: every queue drained")
        expected = b"".join(line(i) + b"\n" for i in range(count))
        check_equal(reader.data, expected, "bytes at the reader")
        check_equal(len(harness.read_jsonl(log_path)), count, "logged records")


if __name__ == "__main__":
    harness.main()
