# SPDX-License-Identifier: MIT
# Live reload on SIGHUP: unchanged listeners keep their sockets and clients, data keeps flowing;
# changed, added and removed listeners are applied; an invalid config is refused, the old one runs.
import os
import signal
import socket

import sdtest
from sdtest import harness
from harness import Daemon, check, check_equal, recv_exactly


def config(front, upstream, spare, extra="", log=""):
    return f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{front}, format: lines}}
  back: {{type: tcp, connect: 127.0.0.1:{upstream}, format: lines, reconnect: {{initial: 50ms, max: 1s}}}}
  spare: {{type: udp, bind: 127.0.0.1:{spare}}}
{extra}routes:
  - from: front
    to: back
    queue: {{overflow: block}}
{log}"""


def reload(daemon, what="the 'Reloaded' line"):
    since = daemon.mark()
    daemon.proc.send_signal(signal.SIGHUP)
    return daemon.wait_for_log(r"Reloaded: (.*)$", since=since, what=what)


def test_reload_keeps_an_established_client_and_its_data_flowing():
    front = harness.free_tcp_port()
    spare, spare2 = harness.free_udp_port(), harness.free_udp_port()
    extra_port = harness.free_tcp_port()
    with harness.tcp_server() as upstream_server, harness.temp_dir() as tmp:
        upstream_port = upstream_server.getsockname()[1]
        with Daemon(config(front, upstream_port, spare), tmp) as daemon:
            upstream = harness.accept(upstream_server, what="the daemon's connection to 'back'")
            client = harness.tcp_connect(front)
            client.sendall(b"before 1\nbefore 2\n")
            check_equal(recv_exactly(upstream, 18), b"before 1\nbefore 2\n", "bytes before the reload")

            # A half-sent line across the reload must still arrive whole.
            client.sendall(b"split ")
            log_path = os.path.join(tmp, "traffic.jsonl")
            with open(daemon.config_path, "w") as f:
                f.write(config(front, upstream_port, spare2,
                               extra=f"  extra: {{type: tcp, listen: 127.0.0.1:{extra_port}}}\n",
                               log=f"  - {{from: front, log: {{path: {log_path}}}}}\n"))
            summary = reload(daemon).group(1)
            check(summary.startswith("listeners: 2 kept, 1 (spare) replaced, 1 (extra) added, 0 removed"),
                  f"reload summary: {summary}")

            client.sendall(b"line\nafter 1\n")
            check_equal(recv_exactly(upstream, 19), b"split line\nafter 1\n", "bytes after the reload")
            # The upstream connection was kept: no second connection arrives.
            upstream_server.settimeout(0.3)
            try:
                upstream_server.accept()
                raise harness.TestFailure("'back' reconnected: the reload replaced an unchanged listener")
            except socket.timeout:
                pass
            # Added listener and log work.
            harness.tcp_connect(extra_port).close()
            harness.wait_until(lambda: os.path.exists(log_path) and harness.count_lines(log_path) >= 1,
                               what="the new log route to write")
            counters = daemon.counters()
            check_equal(counters["listeners"]["front"]["messages_in"], 4, "front.messages_in across the reload")
            check_equal(counters["listeners"]["front"]["connects"], 1, "front.connects: the client never left")
            client.close()
            upstream.close()


def test_invalid_config_is_refused_and_the_old_one_keeps_running():
    front = harness.free_tcp_port()
    with harness.tcp_server() as upstream_server, harness.temp_dir() as tmp:
        upstream_port = upstream_server.getsockname()[1]
        with Daemon(config(front, upstream_port, harness.free_udp_port()), tmp) as daemon:
            upstream = harness.accept(upstream_server)
            client = harness.tcp_connect(front)
            with open(daemon.config_path, "w") as f:
                f.write("listeners:\n  front: {type: tcp, listen: 127.0.0.1:1, formt: lines}\nroutes:\n"
                        "  - {from: frnt, to: back}\n")
            since = daemon.mark()
            daemon.proc.send_signal(signal.SIGHUP)
            daemon.wait_for_log(r"Failed to reload '.*': the new config has 3 errors; the running config stays",
                                since=since)
            daemon.wait_for_log(r"sockbridge\.yaml:2:43: unknown key 'formt'", since=since)
            daemon.wait_for_log(r"sockbridge\.yaml:4:12: route names unknown listener 'frnt'", since=since)
            client.sendall(b"still here\n")
            check_equal(recv_exactly(upstream, 11), b"still here\n", "bytes after the refused reload")
            client.close()
            upstream.close()


def test_unix_listener_replaced_on_the_same_path():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "in.sock")
        receiver = harness.udp_socket()
        base = f"""\
listeners:
  in: {{type: unix, listen: {path}, format: lines, mode: "{{mode}}"}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}}}
routes:
  - {{from: in, to: out}}
"""
        with Daemon(base.replace("{mode}", "0660"), tmp) as daemon:
            check_equal(oct(os.stat(path).st_mode & 0o777), "0o660", "mode before")
            with open(daemon.config_path, "w") as f:
                f.write(base.replace("{mode}", "0600"))
            summary = reload(daemon).group(1)
            check("1 (in) replaced" in summary, f"summary: {summary}")
            check_equal(oct(os.stat(path).st_mode & 0o777), "0o600", "mode after")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(b"via the new socket\n")
            check_equal(harness.recv_datagram(receiver), b"via the new socket", "datagram")
            s.close()
        receiver.close()


def test_a_flood_of_bad_datagrams_is_rate_limited_in_the_log():
    port = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        config_text = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port}, format: jsonl}}
  out: {{type: udp, peer: 127.0.0.1:9}}
routes:
  - {{from: in, to: out}}
"""
        with Daemon(config_text, tmp) as daemon:
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(200):
                sender.sendto(b"not json %d" % i, ("127.0.0.1", port))
            daemon.wait_counter(lambda c: c["listeners"]["in"]["errors"] >= 200, what="200 errors counted")
            warnings = daemon.log_matches(r"Listener 'in': dropping a datagram from")
            check(len(warnings) == 10, f"{len(warnings)} warnings logged for 200 bad datagrams (want 10)")
            sender.close()


harness.main()
