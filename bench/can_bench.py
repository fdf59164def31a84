#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# CAN -> UDP -> CAN bridge benchmark between two vcan interfaces, in the test VM (SocketCAN):
#   sockbridge: two daemons, vcan0 -> udp (cannelloni format) -> vcan1
#   cannelloni: two cannelloni instances on the same path (a peer built from its public source)
#   can-gw:     the kernel's gateway vcan0 -> vcan1 (cangw), the ceiling
# For each: the highest offered rate delivered with zero loss (offered rates step up until a frame
# is lost), frames out of order, and the latency p50/p99 from send to receive at a fixed rate.
# Each figure is the median of --runs runs; tools take turns within a run.
# Usage (on the host it boots the VM itself through tests/vm/run-in-vm):
#   bench/can_bench.py --sockbridged build/src/sockbridged --can-blast build/bench/can_blast \
#       --cannelloni /path/to/cannelloni [--runs 5]
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_IF, OUT_IF = "sbbench0", "sbbench1"
RATES = [1000, 2000, 5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000, 60000, 70000, 80000, 100000, 120000]
TOOLS = ("sockbridge", "cannelloni", "can-gw")


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def make_vcans():
    for name in (IN_IF, OUT_IF):
        subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)
        run("ip", "link", "add", "dev", name, "type", "vcan")
        run("ip", "link", "set", name, "mtu", "16")
        run("ip", "link", "set", name, "txqueuelen", "10000")
        run("ip", "link", "set", "up", name)


def can_receivers(interface):
    with open("/proc/net/can/rcvlist_all") as f:
        return sum(1 for line in f if interface in line.split())


def wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Bridge:
    """One tool's bridge from IN_IF to OUT_IF, running between start() and stop()."""

    def __init__(self, tool, args, tmp):
        self.tool, self.args, self.tmp, self.procs, self.daemons = tool, args, tmp, [], []

    def start(self):
        before = can_receivers(IN_IF)
        if self.tool == "can-gw":
            # -e: vcan hands a frame to its local sockets only when it is sent with echo.
            run("cangw", "-A", "-s", IN_IF, "-d", OUT_IF, "-e")
            return
        a, b = benchlib.free_port(), benchlib.free_port()
        if self.tool == "cannelloni":
            # -t: flush a datagram that is not full on a periodic 1 ms timer (its default is 100 ms; a timer
            # is its only flush: -t 0 would send only full datagrams).
            for interface, local, remote in ((IN_IF, a, b), (OUT_IF, b, a)):
                self.procs.append(subprocess.Popen(
                    [self.args.cannelloni, "-I", interface, "-l", str(local), "-L", "127.0.0.1", "-r", str(remote),
                     "-R", "127.0.0.1", "-t", str(self.args.flush_us)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(lambda: can_receivers(IN_IF) > before, "cannelloni's CAN socket")
            return
        sender, receiver = benchlib.cannelloni_bridge(IN_IF, OUT_IF, b, self.args.sockbridge_flush_us)
        self.daemons.append(benchlib.Sockbridged(self.args.sockbridged, receiver, self.tmp, "receiver.yaml"))
        self.daemons.append(benchlib.Sockbridged(self.args.sockbridged, sender, self.tmp, "sender.yaml"))

    def stop(self):
        if self.tool == "can-gw":
            run("cangw", "-F")
        for proc in self.procs:
            benchlib.stop_process(proc)
        for daemon in self.daemons:
            daemon.stop()
        self.procs, self.daemons = [], []


def send_and_receive(args, rate, count):
    # A frame more than 2 s later than the one before counts as lost.
    receiver = subprocess.Popen([args.can_blast, "recv", OUT_IF, str(count), "2000"], stdout=subprocess.PIPE,
                                text=True)
    if receiver.stdout.readline().strip() != "ready":
        raise RuntimeError("can_blast recv did not start")
    sent = subprocess.run([args.can_blast, "send", IN_IF, str(rate), str(count)], check=True, stdout=subprocess.PIPE,
                          text=True).stdout.split()
    out, _ = receiver.communicate(timeout=120)
    fields = out.split()
    got = {fields[i]: float(fields[i + 1]) for i in range(0, len(fields), 2)}
    got["sent_rate"] = float(sent[1]) / float(sent[3])
    if got["receiver_drops"]:
        print(f"  warning: the receiving socket itself dropped {got['receiver_drops']:.0f} frames", file=sys.stderr)
    return got


def measure(tool, args, tmp):
    """One run of one tool: latency at --latency-rate, then rates stepped up to the first loss."""
    bridge = Bridge(tool, args, tmp)
    bridge.start()
    try:
        latency = send_and_receive(args, args.latency_rate, int(args.latency_rate * args.step_seconds))
        print(f"  {tool}: latency step at {args.latency_rate}/s: {latency['received']:.0f} frames arrived, "
              f"p50 {latency['p50_us']:.0f} µs p99 {latency['p99_us']:.0f} µs", file=sys.stderr, flush=True)
        reordered = latency["reordered"]
        best, best_sent = 0, 0.0  # lost frames even at the lowest rate
        for rate in RATES:
            count = int(rate * args.step_seconds)
            got = send_and_receive(args, rate, count)
            reordered += got["reordered"]
            print(f"  {tool}: offered {rate}/s (sender managed {got['sent_rate']:.0f}/s): "
                  f"{got['received']:.0f}/{count}, {got['reordered']:.0f} out of order, "
                  f"p50 {got['p50_us']:.0f} µs p99 {got['p99_us']:.0f} µs", file=sys.stderr, flush=True)
            if got["received"] < count:
                break
            best, best_sent = rate, min(got["sent_rate"], rate)
            if got["sent_rate"] < rate * 0.9:
                break  # the sender itself cannot offer more in this machine
    finally:
        bridge.stop()
    return {"zero_loss": best, "sent_at_best": best_sent, "p50": latency["p50_us"], "p99": latency["p99_us"],
            "latency_lost": int(args.latency_rate * args.step_seconds) - latency["received"],
            "reordered": reordered}


def fmt(value):
    return "none" if value is None else f"{value:.0f}"


def in_vm(args):
    make_vcans()
    results = {tool: [] for tool in TOOLS}
    try:
        with benchlib.temp_dir() as tmp:
            for run_index in range(args.runs):
                for tool in TOOLS:
                    print(f"run {run_index + 1}/{args.runs}: {tool}", file=sys.stderr, flush=True)
                    results[tool].append(measure(tool, args, tmp))
    finally:
        for name in (IN_IF, OUT_IF):
            subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)
    summary = {tool: {key: benchlib.median([r[key] for r in runs]) for key in runs[0]}
               for tool, runs in results.items()}
    reordered = {tool: sum(r["reordered"] for r in runs) for tool, runs in results.items()}
    s, c, g = summary["sockbridge"], summary["cannelloni"], summary["can-gw"]
    print(f"| CAN->UDP->CAN, median of {args.runs} runs | sockbridge | cannelloni | can-gw | "
          f"sockbridge/cannelloni | sockbridge/can-gw |")
    print("|---|---|---|---|---|---|")
    print(f"| highest offered rate with zero loss (frames/s) | {s['zero_loss']} | {c['zero_loss']} | {g['zero_loss']} | "
          f"{benchlib.ratio(s['zero_loss'], c['zero_loss'])} | {benchlib.ratio(s['zero_loss'], g['zero_loss'])} |")
    print(f"| rate the sender achieved at that step, all delivered (frames/s) | {fmt(s['sent_at_best'])} | "
          f"{fmt(c['sent_at_best'])} | {fmt(g['sent_at_best'])} | {benchlib.ratio(s['sent_at_best'], c['sent_at_best'])} | "
          f"{benchlib.ratio(s['sent_at_best'], g['sent_at_best'])} |")
    print(f"| latency p50 at {args.latency_rate} frames/s (µs) | {s['p50']:.0f} | {c['p50']:.0f} | {g['p50']:.0f} | "
          f"{benchlib.ratio(s['p50'], c['p50'])} | |")
    print(f"| latency p99 at {args.latency_rate} frames/s (µs) | {s['p99']:.0f} | {c['p99']:.0f} | {g['p99']:.0f} | "
          f"{benchlib.ratio(s['p99'], c['p99'])} | |")
    print(f"| frames out of order, all runs and rates | {reordered['sockbridge']:.0f} | {reordered['cannelloni']:.0f} | "
          f"{reordered['can-gw']:.0f} | | |")
    for tool, runs in results.items():
        print(f"{tool} per run: {runs}", file=sys.stderr)
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockbridged", required=True)
    parser.add_argument("--can-blast", required=True)
    parser.add_argument("--cannelloni", required=True, help="a cannelloni binary built from its public source")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--step-seconds", type=float, default=1.0, help="traffic per offered rate")
    parser.add_argument("--latency-rate", type=int, default=2000)
    parser.add_argument("--flush-us", type=int, default=1000, help="cannelloni's buffer timeout (-t, µs)")
    parser.add_argument("--sockbridge-flush-us", type=int,
                        help="sockbridge's flush_timeout in µs (default: its own default, 0: sent at the end of each pass)")
    args = parser.parse_args()
    for name in ("sockbridged", "can_blast", "cannelloni"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    if os.path.isdir("/proc/net/can"):
        return in_vm(args)
    # The host has no SocketCAN: run this same script in the test VM (one boot for everything).
    argv = [sys.executable, os.path.abspath(__file__), "--sockbridged", args.sockbridged, "--can-blast",
            args.can_blast, "--cannelloni", args.cannelloni, "--runs", str(args.runs), "--step-seconds",
            str(args.step_seconds), "--latency-rate", str(args.latency_rate), "--flush-us", str(args.flush_us)]
    if args.sockbridge_flush_us is not None:
        argv += ["--sockbridge-flush-us", str(args.sockbridge_flush_us)]
    timeout = str(600 + args.runs * 240)
    return subprocess.run([os.path.join(SOURCE_ROOT, "tests", "vm", "run-in-vm"), "--", *argv],
                          env=dict(os.environ, SOCKBRIDGE_VM_TIMEOUT=timeout)).returncode


if __name__ == "__main__":
    sys.exit(main())
