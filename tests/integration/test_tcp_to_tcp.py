# SPDX-License-Identifier: MIT
# tcp → tcp with lines framing: every client of the listening out side gets every message.
import signal
import socket
import struct
import threading

import harness
from harness import Daemon, Reader, check, check_equal, recv_exactly


def config(port_in, port_out, out_options=""):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: tcp, listen: 127.0.0.1:{port_out}, format: lines{out_options}}}
routes:
  - from: in
    to: out
"""


def connect_reader(daemon, port):
    """A client of the out side, once the daemon has logged accepting it (messages go only to
    clients already there)."""
    since = daemon.mark()
    s = harness.tcp_connect(port)
    local = s.getsockname()[1]
    daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{local} connected", since=since)
    return s


def test_every_out_client_gets_every_line():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out), tmp) as daemon:
        readers = [connect_reader(daemon, port_out) for _ in range(3)]
        sender = harness.tcp_connect(port_in)
        # Lines cut at odd places, one ending in \r\n: the daemon reframes them; out ends each in \n.
        for piece in [b"alpha\r\nbe", b"ta\ngam", b"ma\n", b"\n", b"d" * 3000 + b"\n"]:
            sender.sendall(piece)
        expected = b"alpha\nbeta\ngamma\n\n" + b"d" * 3000 + b"\n"
        for i, r in enumerate(readers):
            check_equal(recv_exactly(r, len(expected)), expected, f"bytes at out client {i}")
        lines = [b"line %05d %s" % (i, b"x" * (i % 50)) for i in range(2000)]
        sender.sendall(b"".join(line + b"\n" for line in lines))
        expected = b"".join(line + b"\n" for line in lines)
        for i, r in enumerate(readers):
            check_equal(recv_exactly(r, len(expected)), expected, f"bytes at out client {i}")
        sender.close()
        daemon.wait_for_log(r"Listener 'in': 127\.0\.0\.1:\d+ closed")
        check_equal(daemon.stop(), 0, "exit code")
        counters = daemon.final_counters()
        check_equal(counters["listeners"]["in"]["messages_in"], 5 + 2000, "in.messages_in")
        check_equal(counters["listeners"]["out"]["messages_out"], 5 + 2000, "out.messages_out")
        check_equal(counters["routes"]["in->out"]["drops"], 0, "route drops")
        for r in readers:
            r.close()


def test_lines_from_several_senders_reach_every_client_in_each_senders_order():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out), tmp) as daemon:
        readers = [connect_reader(daemon, port_out) for _ in range(2)]
        senders = [harness.tcp_connect(port_in) for _ in range(3)]
        per_sender = 300
        for i in range(per_sender):
            for n, s in enumerate(senders):
                s.sendall(b"s%d-%04d\n" % (n, i))
        total = len(senders) * per_sender * len(b"s0-0000\n")
        streams = [recv_exactly(r, total) for r in readers]
        check_equal(streams[1], streams[0], "the two out clients' bytes")
        lines = streams[0].split(b"\n")[:-1]
        for n in range(len(senders)):
            mine = [line for line in lines if line.startswith(b"s%d-" % n)]
            check_equal(mine, [b"s%d-%04d" % (n, i) for i in range(per_sender)], f"lines of sender {n}")
        check(len(lines) == len(senders) * per_sender, f"{len(lines)} lines")
        for s in senders + readers:
            s.close()


def test_client_that_leaves_does_not_stop_the_others():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    with harness.temp_dir() as tmp, Daemon(config(port_in, port_out), tmp) as daemon:
        stays = connect_reader(daemon, port_out)
        leaves = connect_reader(daemon, port_out)
        sender = harness.tcp_connect(port_in)
        sender.sendall(b"one\n")
        check_equal(recv_exactly(stays, 4), b"one\n", "first line at the staying client")
        check_equal(recv_exactly(leaves, 4), b"one\n", "first line at the leaving client")
        leaves.close()
        # Whenever the daemon notices (at EOF, or when a write to it fails), the others go on.
        for n in range(100):
            sender.sendall(b"more %03d\n" % n)
        expected = b"".join(b"more %03d\n" % n for n in range(100))
        check_equal(recv_exactly(stays, len(expected)), expected, "lines at the staying client")
        sender.close()
        stays.close()


def test_clients_that_reset_while_lines_flow_do_not_stop_the_others():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    cfg = config(port_in, port_out) + "    queue: {overflow: block}\n"
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        stays = connect_reader(daemon, port_out)
        reader = Reader(stays, keep=False)
        reader.start()
        # Lines flow all the time, so resets land while the daemon is writing to every client.
        flood = harness.tcp_connect(port_in)
        chunk = b"flood line\n" * 1000
        stop = threading.Event()
        sent = [0]

        def send_until_stopped():
            while not stop.is_set():
                flood.sendall(chunk)
                sent[0] += len(chunk)

        thread = threading.Thread(target=send_until_stopped, daemon=True)
        thread.start()
        try:
            for i in range(100):
                leavers = [connect_reader(daemon, port_out) for _ in range(3)]
                for leaves in leavers:
                    # Gone abruptly: a reset, not a FIN.
                    leaves.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    leaves.close()
                check(daemon.running(), f"sockbridged died (exit {daemon.proc.poll()}) in round {i}")
        finally:
            stop.set()
            thread.join(harness.IO_TIMEOUT)
        check(not thread.is_alive(), "the flooding sender is stuck")
        reader.wait_count(sent[0], 60)
        check_equal(reader.count, sent[0], "bytes at the staying client")
        reader.stop()
        flood.close()


def test_clients_reset_while_the_daemon_was_stopped_do_not_keep_a_newcomer_out():
    """Two clients fill max_clients: 2 and reset their connections while the daemon is stopped, and
    a third connects meanwhile: when the daemon runs again, the third gets in whichever event it
    handles first, because at the limit the daemon looks for reset clients before refusing."""
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    cfg = config(port_in, port_out, ", max_clients: 2")
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        for round_ in range(5):
            leavers = [connect_reader(daemon, port_out) for _ in range(2)]
            since = daemon.mark()
            daemon.proc.send_signal(signal.SIGSTOP)
            try:
                for leaves in leavers:
                    leaves.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    leaves.close()
                third = harness.tcp_connect(port_out)  # completed by the kernel's backlog
            finally:
                daemon.proc.send_signal(signal.SIGCONT)
            local = third.getsockname()[1]
            m = daemon.wait_for_log(rf"Listener 'out': (client 127\.0\.0\.1:{local} connected|refusing client "
                                    rf"127\.0\.0\.1:{local}.*)", since=since)
            check(m.group(1).startswith("client"), f"round {round_}: the newcomer was refused: {m.group(0)}")
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"hello\n")
            check_equal(recv_exactly(third, 6), b"hello\n", "line at the newcomer")
            sender.close()
            since = daemon.mark()
            third.close()
            daemon.wait_for_log(rf"Listener 'out': 127\.0\.0\.1:{local} closed", since=since)


def test_clients_that_disconnect_do_not_count_against_max_clients():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    cfg = config(port_in, port_out, ", max_clients: 2")
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        for _ in range(2):
            client = connect_reader(daemon, port_out)
            local = client.getsockname()[1]
            since = daemon.mark()
            client.close()
            # Nothing has been routed to it: its EOF is all the daemon sees.
            daemon.wait_for_log(rf"Listener 'out': 127\.0\.0\.1:{local} closed", since=since,
                                what=f"the daemon noticing that client {local} left")
        # Two clients came and went, so a third must be let in.
        since = daemon.mark()
        third = harness.tcp_connect(port_out)
        m = daemon.wait_for_log(r"Listener 'out': (client 127\.0\.0\.1:\d+ connected|refusing client .*)",
                                since=since)
        check(m.group(1).startswith("client"), f"the third client was refused: {m.group(0)}")
        sender = harness.tcp_connect(port_in)
        sender.sendall(b"hello\n")
        check_equal(recv_exactly(third, 6), b"hello\n", "line at the third client")
        sender.close()
        third.close()


if __name__ == "__main__":
    harness.main()
