# SPDX-License-Identifier: MIT
# allow: CIDR lists on tcp and udp listeners, and the loopback default of a bare port. Peers come
# from two loopback addresses (127.0.0.2 allowed, 127.0.0.1 not) and from a second network
# namespace over a veth (IPv6 and IPv4 on a dual-stack [::] listener).

import contextlib
import socket

import harness
import netns
from harness import Daemon, check, check_equal


def tcp_from(source, port, host="127.0.0.1", family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(harness.IO_TIMEOUT)
    s.bind((source, 0))
    s.connect((host, port))
    return s


def test_tcp_client_outside_the_list_is_closed_and_counted():
    port_in = harness.free_tcp_port()
    with harness.udp_socket() as receiver, harness.temp_dir() as tmp:
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines, allow: [127.0.0.2/32, "::1/128"]}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}}}
routes:
  - {{from: in, to: out}}
"""
        with Daemon(cfg, tmp) as daemon:
            outsider = tcp_from("127.0.0.1", port_in)
            outsider_port = outsider.getsockname()[1]
            # The kernel completed the handshake; the daemon closes the connection at accept.
            with contextlib.suppress(OSError):
                outsider.sendall(b"from outside\n")
            data, _ = harness.recv_until_eof(outsider)
            check_equal(data, b"", "bytes the refused client got")
            daemon.wait_for_log(rf"Listener 'in': refusing client 127\.0\.0\.1:{outsider_port}: not in the allow list")
            insider = tcp_from("127.0.0.2", port_in)
            insider.sendall(b"from inside\n")
            check_equal(harness.recv_datagram(receiver), b"from inside", "the allowed client's line")
            harness.assert_no_datagram(receiver)
            insider.close()
            outsider.close()
            counters = daemon.wait_counter(lambda c: c["listeners"]["in"]["messages_in"] == 1)
            check_equal(counters["listeners"]["in"]["refused"], 1, "in.refused")
            check_equal(counters["listeners"]["in"]["connects"], 1, "in.connects (the allowed client only)")
            check(not daemon.log_matches(r"reachable from other hosts"), "no exposure warning on loopback")


def test_udp_datagram_from_outside_the_list_is_dropped_and_counted():
    port_in = harness.free_udp_port()
    with harness.udp_socket() as receiver, harness.temp_dir() as tmp, \
            harness.udp_socket("127.0.0.1") as outsider, harness.udp_socket("127.0.0.2") as insider:
        cfg = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}, allow: 127.0.0.2}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}}}
routes:
  - {{from: in, to: out}}
  - {{from: out, to: in}}
"""
        with Daemon(cfg, tmp) as daemon:
            outsider.sendto(b"spoofed", ("127.0.0.1", port_in))
            insider.sendto(b"genuine", ("127.0.0.1", port_in))
            check_equal(harness.recv_datagram(receiver), b"genuine", "the forwarded datagram")
            harness.assert_no_datagram(receiver)
            daemon.wait_for_log(rf"Listener 'in': dropping a datagram from 127\.0\.0\.1:{outsider.getsockname()[1]}: "
                                r"not in the allow list")
            # Replies go to the last allowed sender, never to the refused one.
            receiver.sendto(b"reply", ("127.0.0.1", daemon_out_port(daemon)))
            check_equal(harness.recv_datagram(insider), b"reply", "the reply at the allowed sender")
            harness.assert_no_datagram(outsider)
            counters = daemon.counters()
            check_equal(counters["listeners"]["in"]["refused"], 1, "in.refused")
            check_equal(counters["listeners"]["in"]["messages_in"], 1, "in.messages_in")


def daemon_out_port(daemon):
    """The ephemeral port the 'out' listener bound (it logs it)."""
    return int(daemon.wait_for_log(r"Listener 'out': bound to 127\.0\.0\.1:(\d+)").group(1))


REFUSED = 60     # refusals per listener, well past the burst a window lets through
LOG_BURST = 10   # warnings per listener and reason in each 5 s window (README, Journal)


def refusal_warnings(daemon, listener):
    """(warnings logged one by one, the counts of the "N messages suppressed" lines) so far."""
    single = daemon.log_matches(rf"^Listener '{listener}': (refusing client|dropping a datagram from) "
                                r"127\.0\.0\.1:\d+: not in the allow list$")
    summed = daemon.log_matches(rf"^'{listener}': (\d+) messages suppressed \(not allowed\): more than 10 in 5s$")
    return len(single), [int(m.group(1)) for m in summed]


def test_refusals_are_all_counted_and_their_warnings_rate_limited_with_a_summary():
    tcp_port, udp_port = harness.free_tcp_port(), harness.free_udp_port()
    with harness.temp_dir() as tmp, harness.udp_socket("127.0.0.1") as outsider:
        cfg = f"""\
listeners:
  tin: {{type: tcp, listen: 127.0.0.1:{tcp_port}, allow: [127.0.0.2/32]}}
  uin: {{type: udp, bind: 127.0.0.1:{udp_port}, allow: [127.0.0.2/32]}}
"""
        with Daemon(cfg, tmp) as daemon:
            for _ in range(REFUSED):
                client = tcp_from("127.0.0.1", tcp_port)
                data, _ = harness.recv_until_eof(client)  # closed at accept
                check_equal(data, b"", "bytes a refused client got")
                client.close()
                outsider.sendto(b"refused", ("127.0.0.1", udp_port))
            counters = daemon.wait_counter(lambda c: (c["listeners"]["tin"]["refused"], c["listeners"]["uin"]["refused"])
                                           == (REFUSED, REFUSED), what=f"{REFUSED} refused on each listener")
            check_equal((counters["listeners"]["uin"]["messages_in"], counters["listeners"]["tin"]["connects"]), (0, 0),
                        "nothing from the refused peers got in")
            for listener in ("tin", "uin"):
                # What a window held back is summed up when the window ends, with no further refusal
                # to carry it: wait for summaries until every refusal is accounted for.
                while True:
                    mark = daemon.mark()
                    single, summed = refusal_warnings(daemon, listener)
                    if single + sum(summed) >= REFUSED:
                        break
                    daemon.wait_for_log(rf"^'{listener}': \d+ messages suppressed \(not allowed\)", since=mark,
                                        what=f"the suppressed-lines summary of '{listener}' "
                                             f"({single} logged + {sum(summed)} summed of {REFUSED})")
                check_equal(single + sum(summed), REFUSED, f"'{listener}': warnings logged + summed up")
                check(summed, f"'{listener}': a summary line")
                check(single <= LOG_BURST * (len(summed) + 1),
                      f"'{listener}': {single} warnings for {len(summed)} summaries: more than {LOG_BURST} a window")


def test_bare_port_listens_on_loopback_only():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        for spelling in (f"{port}", f'":{port}"'):
            with Daemon(f"listeners:\n  in: {{type: tcp, listen: {spelling}}}\n", tmp) as daemon:
                daemon.wait_for_log(rf"Listener 'in' listening on 127\.0\.0\.1:{port}$")
                check(not daemon.log_matches(r"reachable from other hosts"), "no exposure warning")


def test_all_interfaces_without_allow_list_is_warned_about():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        with Daemon(f"listeners:\n  open: {{type: tcp, listen: 0.0.0.0:{port}}}\n", tmp) as daemon:
            daemon.wait_for_log(rf"Listener 'open' on 0\.0\.0\.0:{port} is reachable from other hosts and has no "
                                r"'allow' list")
        with Daemon(f"listeners:\n  fenced: {{type: tcp, listen: 0.0.0.0:{port}, allow: [10.0.0.0/8]}}\n",
                    tmp) as daemon:
            daemon.wait_for_log(rf"Listener 'fenced' listening on 0\.0\.0\.0:{port}")
            check(not daemon.log_matches(r"reachable from other hosts"), "no warning with an allow list")


def test_dual_stack_listener_between_namespaces():
    netns.require_tools()
    with netns.Network(ipv6=True) as net, harness.temp_dir() as tmp:
        client, server = net.host("a"), net.host("b")
        end_a, _ = net.link(client, server, v4=("192.0.2.1/24", "192.0.2.2/24"),
                            v6=("2001:db8::1/64", "2001:db8::2/64"))
        client.ip("addr", "add", "192.0.2.3/24", "dev", end_a.name)
        client.ip("addr", "add", "2001:db8::3/64", "dev", end_a.name, "nodad")
        net.up()
        cfg = """\
listeners:
  in: {type: tcp, listen: "[::]:7100", format: lines, allow: [192.0.2.1/32, "2001:db8::1/128"]}
  log: {type: tcp, listen: "[::1]:7101", format: lines}
routes:
  - {from: in, to: log}
"""
        with Daemon(cfg, tmp, wrapper=server.wrapper) as daemon:
            with server.entered():
                reader_sock = socket.create_connection(("::1", 7101), timeout=harness.IO_TIMEOUT)
            daemon.wait_for_log(r"Listener 'log': client \[::1\]:\d+ connected")
            results = {}
            for source, family, dest in (("192.0.2.1", socket.AF_INET, "192.0.2.2"),
                                         ("192.0.2.3", socket.AF_INET, "192.0.2.2"),
                                         ("2001:db8::1", socket.AF_INET6, "2001:db8::2"),
                                         ("2001:db8::3", socket.AF_INET6, "2001:db8::2")):
                with client.entered():
                    s = tcp_from(source, 7100, dest, family)
                with contextlib.suppress(OSError):
                    s.sendall(f"hello from {source}\n".encode())
                results[source] = s
            expected = [b"hello from 192.0.2.1", b"hello from 2001:db8::1"]
            got = harness.recv_exactly(reader_sock, sum(len(line) + 1 for line in expected))
            check_equal(sorted(got.split(b"\n")[:-1]), expected, "lines from the allowed hosts")
            for refused in ("192.0.2.3", "2001:db8::3"):
                data, _ = harness.recv_until_eof(results[refused])
                check_equal(data, b"", f"bytes {refused} got")
            counters = daemon.wait_counter(lambda c: c["listeners"]["in"]["refused"] == 2, what="2 refused")
            check_equal(counters["listeners"]["in"]["messages_in"], 2, "in.messages_in")
            daemon.wait_for_log(r"refusing client \[::ffff:192\.0\.2\.3\]:\d+: not in the allow list")
            daemon.wait_for_log(r"refusing client \[2001:db8::3\]:\d+: not in the allow list")
            for s in results.values():
                s.close()
            reader_sock.close()


if __name__ == "__main__":
    harness.main()
