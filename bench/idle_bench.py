#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Idle cost of sockbridged with the shipped default config (config/sockbridge.yaml, its ports and log
# path moved to free ones), started as a service manager would start it (NOTIFY_SOCKET set):
#   - time from exec to READY=1 (its sd_notify message on a NOTIFY_SOCKET of our own)
#   - wakeups while idle: context switches of all its threads over --idle-seconds, per second
#     (/proc/PID/task/*/status voluntary + nonvoluntary), with no watchdog and with WatchdogSec=
#   - resident memory (VmRSS) once idle
# beside `socat TCP-LISTEN:…,fork UDP:…` (the same TCP→UDP path) idling over the same window.
# --runs instances of each idle side by side in one window (idle processes do not disturb each
# other); each figure is the median over them.
# Usage: bench/idle_bench.py --sockbridged build/src/sockbridged [--runs 5] [--idle-seconds 60]
import argparse
import glob
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def switches(pid):
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def default_config(tmp, index):
    with open(os.path.join(SOURCE_ROOT, "config", "sockbridge.yaml")) as f:
        text = f.read()
    tcp, udp = benchlib.free_port(socket.SOCK_STREAM), benchlib.free_port()
    log_dir = os.path.join(tmp, f"log{index}")
    text = text.replace("127.0.0.1:7000", f"127.0.0.1:{tcp}").replace("127.0.0.1:7001", f"127.0.0.1:{udp}")
    return text.replace("/tmp/sockbridge/", log_dir + "/"), tcp, udp


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockbridged", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--watchdog-seconds", type=float, default=20, help="WatchdogSec= of the second variant")
    args = parser.parse_args()
    variants = {"sockbridge": {}, f"sockbridge, WatchdogSec={args.watchdog_seconds:g}s": {
        "WATCHDOG_USEC": str(int(args.watchdog_seconds * 1e6))}}
    with benchlib.temp_dir() as tmp:
        procs = {name: [] for name in (*variants, "socat")}
        ready = []
        try:
            for index in range(args.runs):
                for name, extra in variants.items():
                    config, _, _ = default_config(tmp, len(ready))
                    daemon = benchlib.Sockbridged(args.sockbridged, config, tmp, f"idle{len(ready)}.yaml",
                                                  env=dict(os.environ, **extra))
                    ready.append(daemon.ready_seconds)
                    procs[name].append((daemon.pid, daemon))
                _, tcp, udp = default_config(tmp, "-socat")
                socat = subprocess.Popen(["socat", f"TCP-LISTEN:{tcp},bind=127.0.0.1,reuseaddr,fork",
                                          f"UDP:127.0.0.1:{udp}"], stderr=subprocess.DEVNULL)
                procs["socat"].append((socat.pid, socat))
            # Past start-up and the first status update (5 s after READY): what remains is periodic.
            time.sleep(6)
            before = {name: [switches(pid) for pid, _ in group] for name, group in procs.items()}
            time.sleep(args.idle_seconds)
            after = {name: [switches(pid) for pid, _ in group] for name, group in procs.items()}
            rss = {name: [benchlib.rss_kib(pid) for pid, _ in group] for name, group in procs.items()}
        finally:
            for group in procs.values():
                for _, proc in group:
                    if isinstance(proc, benchlib.Sockbridged):
                        proc.stop()
                    else:
                        benchlib.stop_process(proc)
    wakeups = {name: benchlib.median([(a - b) / args.idle_seconds for a, b in zip(after[name], before[name])])
               for name in procs}
    memory = {name: benchlib.median(values) for name, values in rss.items()}
    print(f"{args.sockbridged}:")
    print(f"| idle, default config, median of {args.runs} instances over {args.idle_seconds:g} s | wakeups/s | "
          f"RSS (KiB) | start to READY (ms) |")
    print("|---|---|---|---|")
    for name in procs:
        start = f"{benchlib.median(ready) * 1000:.0f}" if name == "sockbridge" else "n/a"
        print(f"| {name} | {wakeups[name]:.3f} | {memory[name]:.0f} | {start} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
