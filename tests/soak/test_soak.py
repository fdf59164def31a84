# SPDX-License-Identifier: MIT
# Soak: every listener kind the host can run — tcp, udp, unix (stream in, datagram out) and, as
# root, packet in a network namespace — carries traffic at a moderate rate for a while
# (SOCKBRIDGE_SOAK_SECONDS, 60 by default; bench/soak.sh runs it for 10 minutes). Afterwards
# nothing is lost (the receivers' counts equal what was sent and the daemon counted no drops or
# errors), and the daemon's resident memory and descriptor count are where they were after the
# warm-up.
import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
import netns  # noqa: E402
from harness import Daemon, check, check_equal  # noqa: E402

SECONDS = float(os.environ.get("SOCKBRIDGE_SOAK_SECONDS", "60"))
RATE = int(os.environ.get("SOCKBRIDGE_SOAK_RATE", "200"))  # messages a second on each listener kind
WARMUP = 0.1  # of the run: allocator pools and socket buffers settle before the baseline
RSS_TOLERANCE_KIB = 2048  # growth allowed between the baseline and the end
A4, B4 = "192.0.2.1", "192.0.2.2"


class Counter(threading.Thread):
    """Counts messages arriving on a socket until stop(): datagrams, or lines on a stream."""

    def __init__(self, sock, lines=False):
        super().__init__(daemon=True)
        self.sock, self.lines, self.count = sock, lines, 0
        self._done = threading.Event()
        self.start()

    def run(self):
        while not self._done.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.2)
            if not ready:
                continue
            data = self.sock.recv(1 << 16)
            if self.lines and not data:
                return
            self.count += data.count(b"\n") if self.lines else 1

    def wait_for(self, n, timeout=harness.IO_TIMEOUT):
        harness.wait_until(lambda: self.count >= n, timeout, what=f"{n} messages (have {self.count})")
        return self.count

    def stop(self):
        self._done.set()
        self.join(5)


def resources(pid):
    return harness.Daemon.vm_rss_kib(_Pid(pid)), len(os.listdir(f"/proc/{pid}/fd"))


class _Pid:
    def __init__(self, pid):
        self.pid = pid


def config(tmp, ports, receivers, capture):
    text = f"""\
listeners:
  tcp_in: {{type: tcp, listen: 127.0.0.1:{ports['tcp_in']}, format: lines}}
  tcp_out: {{type: tcp, listen: 127.0.0.1:{ports['tcp_out']}, format: lines}}
  udp_in: {{type: udp, bind: 127.0.0.1:{ports['udp_in']}, receive_buffer: 4MiB}}
  udp_out: {{type: udp, peer: 127.0.0.1:{receivers['udp'].getsockname()[1]}}}
  unix_in: {{type: unix, listen: {tmp}/in.sock, format: lines}}
  unix_out: {{type: unix, connect: {tmp}/out.sock, socket: dgram}}
"""
    routes = """\
routes:
  - {from: tcp_in, to: tcp_out}
  - {from: udp_in, to: udp_out}
  - {from: unix_in, to: unix_out}
"""
    if capture:
        text += f"""\
  cap:
    type: packet
    interface: {capture}
    direction: in
    filter: "udp and dst port {ports['cap']}"
    # At a low rate each block is handed over by its 10 ms timeout, holding a packet or two: the
    # default 8 blocks ride out only 80 ms of the daemon not running; 256 ride out 2.5 s.
    snaplen: 2048
    ring: {{block_size: 64KiB, blocks: 256}}
  cap_out: {{type: udp, peer: 127.0.0.1:{receivers['cap'].getsockname()[1]}}}
"""
        routes += "  - {from: cap, to: cap_out}\n"
    return text + routes


def soak(host, net_a, capture, tmp):
    """Runs the soak with the daemon and its local peers in `host` (a netns.Host, or None)."""
    make = host.socket if host else socket.socket
    receivers = {"udp": make(socket.AF_INET, socket.SOCK_DGRAM)}
    if capture:
        receivers["cap"] = make(socket.AF_INET, socket.SOCK_DGRAM)
    for r in receivers.values():
        harness.grow_rcvbuf(r, 4 << 20)
        r.bind(("127.0.0.1", 0))
    unix_out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    harness.grow_rcvbuf(unix_out, 4 << 20)
    unix_out.bind(f"{tmp}/out.sock")
    with (host.entered() if host else _nothing()):
        ports = {k: harness.free_tcp_port() for k in ("tcp_in", "tcp_out")}
        ports["udp_in"] = harness.free_udp_port()
    ports["cap"] = 40000 + os.getpid() % 20000

    cfg = config(tmp, ports, receivers, capture)
    with Daemon(cfg, tmp, wrapper=host.wrapper if host else ()) as daemon:
        tcp_target = make(socket.AF_INET, socket.SOCK_STREAM)
        tcp_target.connect(("127.0.0.1", ports["tcp_out"]))
        daemon.wait_for_log(r"Listener 'tcp_out': client .* connected")
        counters = {"tcp": Counter(tcp_target, lines=True), "udp": Counter(receivers["udp"]),
                    "unix": Counter(unix_out)}
        if capture:
            counters["cap"] = Counter(receivers["cap"])
        tcp_sender = make(socket.AF_INET, socket.SOCK_STREAM)
        tcp_sender.connect(("127.0.0.1", ports["tcp_in"]))
        udp_sender = make(socket.AF_INET, socket.SOCK_DGRAM)
        unix_sender = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix_sender.connect(f"{tmp}/in.sock")
        packet_sender = None
        if capture:
            packet_sender = net_a.socket(socket.AF_INET, socket.SOCK_DGRAM)
            packet_sender.bind((A4, 0))

        sent = 0
        baseline = None
        start = time.monotonic()
        while time.monotonic() - start < SECONDS:
            line = b"soak %08d %s\n" % (sent, b"x" * (sent % 64))
            tcp_sender.sendall(line)
            udp_sender.sendto(line, ("127.0.0.1", ports["udp_in"]))
            unix_sender.sendall(line)
            if packet_sender:
                packet_sender.sendto(line, (B4, ports["cap"]))
            sent += 1
            if baseline is None and time.monotonic() - start >= WARMUP * SECONDS:
                baseline = resources(daemon.pid)
            # Pace to RATE a second (the rate is the load, not something the test asserts).
            ahead = sent / RATE - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        received = {}
        for name, counter in counters.items():
            try:
                received[name] = counter.wait_for(sent)
            except harness.TestFailure:
                received[name] = counter.count  # reported below, with the counters
        end = resources(daemon.pid)
        stats = daemon.counters()
        print(f"soak: {SECONDS:.0f}s, {sent} messages on each of {', '.join(counters)} ({RATE}/s each); "
              f"received {received}; VmRSS {baseline[0]} KiB after warm-up, {end[0]} KiB at the end; "
              f"descriptors {baseline[1]} -> {end[1]}; kernel drops "
              f"{ {n: c['kernel_drops'] for n, c in stats['listeners'].items() if c['kernel_drops']} }")
        for name, counter in counters.items():
            check_equal(received[name], sent, f"messages received via {name}")
        for kind in ("listeners", "routes"):
            for name, c in stats[kind].items():
                check_equal((c["drops"], c["errors"], c.get("kernel_drops", 0)), (0, 0, 0),
                            f"{kind} {name}: drops, errors, kernel drops")
        check(end[0] <= baseline[0] + RSS_TOLERANCE_KIB,
              f"VmRSS grew from {baseline[0]} to {end[0]} KiB (tolerance {RSS_TOLERANCE_KIB} KiB)")
        check_equal(end[1], baseline[1], "open descriptors, after the warm-up and at the end")
        for s in (tcp_sender, udp_sender, unix_sender, packet_sender):
            if s:
                s.close()
        for counter in counters.values():
            counter.stop()
        check_equal(daemon.stop(), 0, "exit code")


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_every_listener_kind_soaks_without_loss_or_growth():
    with harness.temp_dir() as tmp:
        if os.geteuid() != 0:
            print("not root: the packet listener is left out (it needs a network namespace)")
            soak(None, None, None, tmp)
            return
        with netns.Network() as net:
            a, b = net.host("a"), net.host("b")
            _, lb = net.link(a, b, v4=(f"{A4}/24", f"{B4}/24"))
            net.up()
            soak(b, a, lb.name, tmp)


if __name__ == "__main__":
    harness.main()
