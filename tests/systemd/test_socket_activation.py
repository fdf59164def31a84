# SPDX-License-Identifier: MIT
# Socket activation through systemd-socket-activate: a listener with `systemd: NAME` takes the
# socket passed under that FileDescriptorName=, and a missing name is a clear startup error.
import socket

import sdtest
from sdtest import harness
from harness import Daemon, check, check_equal, recv_exactly


def activate(port, fdname, datagram=False):
    tool = sdtest.need("systemd-socket-activate")
    args = [tool, "-l", f"127.0.0.1:{port}", f"--fdname={fdname}"]
    if datagram:
        args.insert(1, "--datagram")
    return args


def test_tcp_listener_takes_its_socket_from_systemd():
    port = harness.free_tcp_port()
    with harness.tcp_server() as upstream_server, harness.temp_dir() as tmp:
        config = f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{port}, systemd: front, format: lines}}
  back: {{type: tcp, connect: 127.0.0.1:{upstream_server.getsockname()[1]}, format: lines}}
routes:
  - {{from: front, to: back}}
"""
        daemon = Daemon(config, tmp, wrapper=activate(port, "front"), expect_running=False)
        daemon.start()
        try:
            daemon.wait_for_log(r"Listening on 127\.0\.0\.1:\d+ as \d+", what="systemd-socket-activate to listen")
            # systemd-socket-activate starts the daemon on the first connection: that client waits
            # in the backlog meanwhile, as under systemd.
            client = harness.tcp_connect(port)
            client.sendall(b"hello through an inherited socket\n")
            daemon.wait_for_log(r"sockbridged \S+ running ", what="the 'running' line")
            check(daemon.log_matches(r"Listener 'front' listening on 127\.0\.0\.1:\d+ \(socket from systemd\)"),
                  "the listener says its socket came from systemd")
            upstream = harness.accept(upstream_server)
            check_equal(recv_exactly(upstream, 34), b"hello through an inherited socket\n", "bytes upstream")
            check_equal(daemon.stop(), 0, "exit code")
        finally:
            daemon.kill()


def test_udp_listener_takes_a_datagram_socket():
    port = harness.free_udp_port()
    with harness.udp_socket() as receiver, harness.temp_dir() as tmp:
        config = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port}, systemd: in}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}}}
routes:
  - {{from: in, to: out}}
"""
        daemon = Daemon(config, tmp, wrapper=activate(port, "in", datagram=True), expect_running=False)
        daemon.start()
        try:
            daemon.wait_for_log(r"Listening on 127\.0\.0\.1:\d+ as \d+", what="systemd-socket-activate to listen")
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.sendto(b"first", ("127.0.0.1", port))
            daemon.wait_for_log(r"sockbridged \S+ running ", what="the 'running' line")
            check_equal(harness.recv_datagram(receiver), b"first", "the datagram sent before the daemon ran")
            sender.sendto(b"second", ("127.0.0.1", port))
            check_equal(harness.recv_datagram(receiver), b"second", "a later datagram")
            sender.close()
        finally:
            daemon.kill()


def test_missing_socket_name_is_a_clear_error():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        config = f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{port}, systemd: front}}
"""
        daemon = Daemon(config, tmp, wrapper=activate(port, "other"), expect_running=False)
        daemon.start()
        try:
            daemon.wait_for_log(r"Listening on 127\.0\.0\.1:\d+ as \d+", what="systemd-socket-activate to listen")
            harness.tcp_connect(port).close()
            check_equal(daemon.wait_exit(), 1, "exit code")
            check(daemon.log_matches(r"Failed to start listener 'front': systemd passed no socket named 'front' "
                                     r"\(FileDescriptorName= of its \.socket unit\); passed: 'other'"),
                  "the error names the missing and the passed sockets")
        finally:
            daemon.kill()


def test_without_systemd_the_listener_reports_no_socket():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        config = f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{port}, systemd: front}}
"""
        daemon = Daemon(config, tmp, expect_running=False)
        daemon.start()
        check_equal(daemon.wait_exit(), 1, "exit code")
        check(daemon.log_matches(r"systemd passed no socket named 'front'.*no sockets were passed"),
              "the error says no sockets were passed")


harness.main()
