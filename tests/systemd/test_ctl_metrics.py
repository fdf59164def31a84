# SPDX-License-Identifier: MIT
# daemon.metrics: GET /metrics answers the counters in Prometheus text format.
import socket

import ctltest  # noqa: F401
import harness
from harness import Daemon, check, check_equal


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=harness.IO_TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data, _ = harness.recv_until_eof(s)
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), body.decode()


def test_metrics_endpoint_counts_the_datagrams_sent():
    port_in, metrics = harness.free_udp_port(), harness.free_tcp_port()
    with harness.udp_socket() as receiver, harness.temp_dir() as tmp:
        cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}}}
routes:
  - {{from: in, to: out, name: fwd}}
daemon:
  control: none
  metrics: 127.0.0.1:{metrics}
"""
        with Daemon(cfg, tmp):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for i in range(7):
                    sender.sendto(b"x" * (i + 1), ("127.0.0.1", port_in))
            harness.recv_datagrams(receiver, 7)
            head, body = http_get(metrics, "/metrics")
            check_equal(head[0], "HTTP/1.0 200 OK", "status line")
            check("Content-Type: text/plain; version=0.0.4; charset=utf-8" in head, f"headers: {head}")
            lines = body.splitlines()
            for expected in [
                'sockbridge_listener_up{listener="in",kind="udp"} 1',
                'sockbridge_listener_messages_in_total{listener="in"} 7',
                'sockbridge_listener_bytes_in_total{listener="in"} 28',
                'sockbridge_listener_messages_out_total{listener="out"} 7',
                'sockbridge_route_messages_out_total{route="fwd"} 7',
                'sockbridge_route_drops_total{route="fwd"} 0',
                'sockbridge_listener_kernel_drops_total{listener="in"} 0',
                'sockbridge_listener_lost_total{listener="in"} 0',
                'sockbridge_route_queue_messages{route="fwd"} 0',
                '# TYPE sockbridge_listener_messages_in_total counter',
            ]:
                check(expected in lines, f"no line {expected!r} in:\n{body}")
            head, _ = http_get(metrics, "/other")
            check_equal(head[0], "HTTP/1.0 404 Not Found", "another path")


def test_no_metrics_listener_unless_configured():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{harness.free_udp_port()}}}
daemon: {{control: none}}
"""
        with Daemon(cfg, tmp) as daemon:
            check(not daemon.log_matches(r"Metrics on"), "no metrics line")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                connected = True
            except OSError:
                connected = False
            check(not connected, "nothing listens without daemon.metrics")


if __name__ == "__main__":
    harness.main()
