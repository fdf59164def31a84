#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Relay benchmarks, sockbridge side by side with socat on the same machine and traffic:
#   tcp: a TCP->TCP port forwarder carrying one large stream (GB/s, receiver's first byte to EOF),
#        against socat with its default buffer and with -b 1048576, and a direct connection
#   udp: a UDP->UDP relay of 64-byte datagrams blasted as fast as the sender can (delivered/s, loss)
# Each figure is the median of --runs runs; the ratio is sockbridge / socat.
# Usage: bench/relay_bench.py --sockbridged build/src/sockbridged --blast build/bench/blast [--runs 5]
# (blast is built with the project: bench/blast.cpp)
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_line(proc, expect, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if expect in line:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited early")
    raise RuntimeError(f"timed out waiting for {expect!r}")


def wait_listening(port, kind, timeout=10):
    # Polling /proc instead of connecting: socat without fork accepts exactly one client.
    table = "/proc/net/tcp" if kind == "tcp" else "/proc/net/udp"
    needle = f":{port:04X} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if needle in fields[1] + " " and (kind == "udp" or fields[3] == "0A"):
                    return
        time.sleep(0.01)
    raise RuntimeError(f"nothing listening on {kind} port {port}")


class RssSampler(threading.Thread):
    # socat exits as soon as its one session ends, so its peak is sampled while it runs.
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.wait(0.02):
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak = max(self.peak, int(line.split()[1]))
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


def stop_relay(relay):
    # The relay's own CPU time (user + system): unlike throughput, it does not depend on what
    # else the machine is doing at the time.
    # os.kill, not Popen's methods: they would reap an exited socat before wait4 sees its usage.
    try:
        os.kill(relay.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    _, _, usage = os.wait4(relay.pid, 0)
    relay.returncode = 0
    return usage.ru_utime + usage.ru_stime


def start_relay(tool, args, kind, in_port, out_port, tmp):
    if tool.startswith("socat"):
        if kind == "tcp":
            # "socat": its default 8 KiB buffer; "socat-1M": -b 1048576, its best here.
            buffer = ["-b", "1048576"] if tool == "socat-1M" else []
            cmd = ["socat", *buffer, f"TCP-LISTEN:{in_port},bind=127.0.0.1,reuseaddr", f"TCP:127.0.0.1:{out_port}"]
        else:
            cmd = ["socat", "-u", f"UDP-RECV:{in_port},bind=127.0.0.1", f"UDP-SENDTO:127.0.0.1:{out_port}"]
        proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        wait_listening(in_port, kind)
        return proc
    if kind == "tcp":
        config = f"""listeners:
  front: {{type: tcp, listen: 127.0.0.1:{in_port}}}
  back: {{type: tcp, connect: 127.0.0.1:{out_port}}}
routes:
  - {{from: front, to: back, per_connection: true}}
daemon: {{log_level: warning}}
"""
    else:
        config = f"""listeners:
  front: {{type: udp, bind: 127.0.0.1:{in_port}}}
  back: {{type: udp, peer: 127.0.0.1:{out_port}}}
routes:
  - {{from: front, to: back, queue: {{max_messages: 65536}}}}
daemon: {{log_level: warning}}
"""
    path = os.path.join(tmp, "bench.yaml")
    with open(path, "w") as f:
        f.write(config)
    proc = subprocess.Popen([args.sockbridged, "--config", path], stderr=subprocess.DEVNULL)
    wait_listening(in_port, kind)
    return proc


def run_direct_tcp(args):
    # The ceiling: the sender connects to the receiver itself.
    port = free_port(socket.SOCK_STREAM)
    sink = subprocess.Popen([args.blast, "tcp-recv", str(port)], stdout=subprocess.PIPE, text=True)
    wait_line(sink, "ready")
    subprocess.run([args.blast, "tcp-send", "127.0.0.1", str(port), str(args.tcp_bytes)], check=True)
    total, seconds = sink.communicate(timeout=120)[0].split()
    return int(total) / float(seconds) / 1e9, 0, 0.0


def run_tcp(tool, args, tmp):
    if tool == "direct":
        return run_direct_tcp(args)
    in_port, out_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    sink = subprocess.Popen([args.blast, "tcp-recv", str(out_port)], stdout=subprocess.PIPE, text=True)
    wait_line(sink, "ready")
    relay = start_relay(tool, args, "tcp", in_port, out_port, tmp)
    sampler = RssSampler(relay.pid)
    sampler.start()
    try:
        subprocess.run([args.blast, "tcp-send", "127.0.0.1", str(in_port), str(args.tcp_bytes)], check=True)
        out, _ = sink.communicate(timeout=120)
        total, seconds = out.split()
        rss = sampler.stop()
    finally:
        cpu = stop_relay(relay)
    if int(total) != args.tcp_bytes:
        raise RuntimeError(f"{tool}: {total} of {args.tcp_bytes} bytes arrived")
    return int(total) / float(seconds) / 1e9, rss, cpu / (int(total) / 1e9)


def run_udp(tool, args, tmp):
    in_port, out_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    sink = subprocess.Popen([args.blast, "udp-recv", str(out_port), "500"], stdout=subprocess.PIPE, text=True)
    wait_line(sink, "ready")
    relay = start_relay(tool, args, "udp", in_port, out_port, tmp)
    sampler = RssSampler(relay.pid)
    sampler.start()
    try:
        subprocess.run([args.blast, "udp-send", "127.0.0.1", str(in_port), str(args.udp_count), "64"], check=True,
                       stdout=subprocess.DEVNULL)
        out, _ = sink.communicate(timeout=120)
        received, seconds = out.split()
        rss = sampler.stop()
    finally:
        cpu = stop_relay(relay)
    received = int(received)
    rate = received / float(seconds) if float(seconds) > 0 else 0.0
    return rate, 1 - received / args.udp_count, rss, cpu / max(received, 1) * 1e6


def run_steady(tool, args, tmp):
    """Memory under steady load: UDP relayed at --steady-rate for --steady-seconds; VmRSS after the
    first second of traffic and at the end (flat means the queues and buffers are bounded)."""
    in_port, out_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    count = int(args.steady_rate * args.steady_seconds)
    sink = subprocess.Popen([args.blast, "udp-recv", str(out_port), "500"], stdout=subprocess.PIPE, text=True)
    wait_line(sink, "ready")
    relay = start_relay(tool, args, "udp", in_port, out_port, tmp)
    try:
        sender = subprocess.Popen([args.blast, "udp-send", "127.0.0.1", str(in_port), str(count), "64",
                                   str(args.steady_rate)], stdout=subprocess.DEVNULL)
        time.sleep(1)
        early = benchlib.rss_kib(relay.pid)
        sender.wait(timeout=args.steady_seconds * 10)
        late = benchlib.rss_kib(relay.pid)
        received = int(sink.communicate(timeout=120)[0].split()[0])
    finally:
        stop_relay(relay)
    return early, late, 1 - received / count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockbridged", required=True)
    parser.add_argument("--blast", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tcp-bytes", type=int, default=2 << 30)
    parser.add_argument("--udp-count", type=int, default=1_000_000)
    parser.add_argument("--steady-rate", type=int, default=50_000, help="datagrams/s of the memory run")
    parser.add_argument("--steady-seconds", type=float, default=20)
    args = parser.parse_args()
    # Runs alternate between the tools so a noisy moment hurts both alike. TCP also runs against
    # socat with its default buffer and a direct connection (no relay), the ceiling.
    tcp_tools = ("sockbridge", "socat", "socat-1M", "direct")
    udp_tools = ("sockbridge", "socat")
    tcp = {tool: [] for tool in tcp_tools}
    udp = {tool: [] for tool in udp_tools}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for tool in tcp_tools:
                tcp[tool].append(run_tcp(tool, args, tmp))
            for tool in udp_tools:
                udp[tool].append(run_udp(tool, args, tmp))
        steady = {tool: run_steady(tool, args, tmp) for tool in udp_tools} if args.steady_seconds > 0 else {}
    t = {tool: [statistics.median(x[i] for x in r) for i in range(3)] for tool, r in tcp.items()}
    u = {tool: [statistics.median(x[i] for x in r) for i in range(4)] for tool, r in udp.items()}
    print(f"tcp {tcp}\nudp {udp}\nsteady {steady}", file=sys.stderr)
    s, o, big, direct = t["sockbridge"], t["socat"], t["socat-1M"], t["direct"]
    print("| benchmark | sockbridge | socat | ratio |")
    print("|---|---|---|---|")
    print(f"| TCP->TCP forward, {args.tcp_bytes >> 20} MiB stream (GB/s), socat's default 8 KiB buffer | {s[0]:.2f} "
          f"| {o[0]:.2f} | {ratio(s[0], o[0])} |")
    print(f"| TCP->TCP forward (GB/s), socat -b 1048576 | {s[0]:.2f} | {big[0]:.2f} | {ratio(s[0], big[0])} |")
    print(f"| TCP->TCP forward against a direct connection (GB/s) | {s[0]:.2f} | direct: {direct[0]:.2f} "
          f"| {ratio(s[0], direct[0])} |")
    print(f"| TCP->TCP relay CPU time per GB (s, lower is better), socat default / -b 1M | {s[2]:.3f} "
          f"| {o[2]:.3f} / {big[2]:.3f} | {ratio(s[2], o[2])} / {ratio(s[2], big[2])} |")
    print(f"| TCP->TCP peak RSS (KiB), socat -b 1M | {s[1]:.0f} | {big[1]:.0f} | {ratio(s[1], big[1])} |")
    s, o = u["sockbridge"], u["socat"]
    print(f"| UDP->UDP relay, 64-byte datagrams delivered (k/s) | {s[0] / 1e3:.0f} | {o[0] / 1e3:.0f} "
          f"| {ratio(s[0], o[0])} |")
    print(f"| UDP->UDP relay CPU time per delivered datagram (µs, lower is better) | {s[3]:.2f} "
          f"| {o[3]:.2f} | {ratio(s[3], o[3])} |")
    print(f"| UDP->UDP loss at the sender's full rate | {s[1]:.1%} | {o[1]:.1%} | |")
    print(f"| UDP->UDP peak RSS (KiB) | {s[2]:.0f} | {o[2]:.0f} | {ratio(s[2], o[2])} |")
    if steady:
        s, o = steady["sockbridge"], steady["socat"]
        print(f"| UDP->UDP RSS after 1 s / after {args.steady_seconds:g} s at {args.steady_rate} datagrams/s (KiB) "
              f"| {s[0]} / {s[1]} | {o[0]} / {o[1]} | |")
        print(f"| UDP->UDP loss at {args.steady_rate} datagrams/s | {s[2]:.1%} | {o[2]:.1%} | |")

if __name__ == "__main__":
    main()
