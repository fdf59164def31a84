# SPDX-License-Identifier: MIT
# A client that breaks the framing (oversize length prefix, overlong line, cut-off frame) is closed
# and the daemon logs why, while the other clients of the same listener keep flowing.
import os
import socket
import struct

import harness
from harness import Daemon, check_equal, recv_until_eof


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def config(port, log_path, fmt, max_message=1024):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port}, format: {fmt}, max_message: {max_message}}}
routes:
  - from: in
    log: {{path: {log_path}, format: jsonl}}
"""


def records_from(log_path, peer):
    if not os.path.exists(log_path):
        return []
    return [r for r in harness.read_jsonl(log_path, growing=True) if r["peer"] == peer]


def wait_records(log_path, peer, count):
    return harness.wait_until(lambda: (lambda rs: rs if len(rs) >= count else None)(records_from(log_path, peer)),
                              what=f"{count} log records from {peer}")


def peer_of(sock):
    host, port = sock.getsockname()
    return f"{host}:{port}"


def assert_closed_by_daemon(sock):
    """The daemon closed it: EOF or a reset, and nothing else comes."""
    data, reset = recv_until_eof(sock)
    check_equal(data, b"", "bytes sent back to the bad client")
    return reset


def test_oversize_length_prefix_closes_that_client_only():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "in.jsonl")
        with Daemon(config(port, log_path, "length-prefixed"), tmp) as daemon:
            good = harness.tcp_connect(port)
            good.sendall(frame(b"good 1") + frame(b"") + frame(b"x" * 1024))
            wait_records(log_path, peer_of(good), 3)

            bad = harness.tcp_connect(port)
            bad_peer = peer_of(bad)
            since = daemon.mark()
            bad.sendall(frame(b"fine first") + struct.pack(">I", 4096) + b"y" * 100)
            daemon.wait_for_log(rf"Listener 'in': closing {bad_peer}: length prefix 4096 exceeds the maximum "
                                r"message size of 1024 bytes$", since=since)
            assert_closed_by_daemon(bad)

            good.sendall(frame(b"good 2") + frame(b"good 3"))
            records = wait_records(log_path, peer_of(good), 5)
            check_equal([r.get("text") for r in records], ["good 1", "", "x" * 1024, "good 2", "good 3"],
                        "records of the good client")
            check_equal([r.get("text") for r in records_from(log_path, bad_peer)], ["fine first"],
                        "records of the bad client (only its frame before the bad prefix)")
            good.close()
            check_equal(daemon.stop(), 0, "exit code")
            counters = daemon.final_counters()
            check_equal(counters["listeners"]["in"]["errors"], 1, "in.errors")
            check_equal(counters["listeners"]["in"]["messages_in"], 6, "in.messages_in")


def test_huge_length_prefix_is_refused_before_buffering():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "in.jsonl")
        with Daemon(config(port, log_path, "length-prefixed"), tmp) as daemon:
            bad = harness.tcp_connect(port)
            since = daemon.mark()
            bad.sendall(b"\xff\xff\xff\xff")
            daemon.wait_for_log(rf"Listener 'in': closing {peer_of(bad)}: length prefix 4294967295 exceeds the "
                                r"maximum message size of 1024 bytes$", since=since)
            assert_closed_by_daemon(bad)


def test_overlong_line_closes_that_client_only():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "in.jsonl")
        with Daemon(config(port, log_path, "lines", max_message=100), tmp) as daemon:
            good = harness.tcp_connect(port)
            bad = harness.tcp_connect(port)
            good.sendall(b"short line\n")
            wait_records(log_path, peer_of(good), 1)
            since = daemon.mark()
            bad.sendall(b"z" * 101)  # no newline needed: the limit is seen as the bytes come
            daemon.wait_for_log(rf"Listener 'in': closing {peer_of(bad)}: line longer than 100 bytes$", since=since)
            assert_closed_by_daemon(bad)
            good.sendall(b"z" * 100 + b"\n")
            records = wait_records(log_path, peer_of(good), 2)
            check_equal([r.get("text") for r in records], ["short line", "z" * 100], "records of the good client")
            check_equal(records_from(log_path, peer_of(bad)), [], "records of the bad client")


def test_stream_ending_inside_a_frame_is_reported():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "in.jsonl")
        with Daemon(config(port, log_path, "length-prefixed"), tmp) as daemon:
            cut = harness.tcp_connect(port)
            peer = peer_of(cut)
            since = daemon.mark()
            cut.sendall(frame(b"whole") + struct.pack(">I", 5) + b"ab")
            cut.shutdown(socket.SHUT_WR)
            daemon.wait_for_log(rf"Listener 'in': closing {peer}: stream ended inside a frame \(2 of 5 bytes\)$",
                                since=since)
            check_equal([r.get("text") for r in wait_records(log_path, peer, 1)], ["whole"], "records")
            cut.close()


if __name__ == "__main__":
    harness.main()
