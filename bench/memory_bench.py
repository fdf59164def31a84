#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Stripped size and idle resident memory of sockbridged builds with the default config, and where the memory goes.
# For each LABEL=BINARY: the stripped size (`strip -o`, or --strip), then the daemon started with
# config/sockbridge.yaml (its ports and log path moved to free ones, no NOTIFY_SOCKET: nothing but
# the config's own listeners), and once it has logged "running" and rested --settle-seconds:
# VmRSS, RssAnon, RssFile (/proc/PID/status), PSS and USS (/proc/PID/smaps_rollup), and the
# resident KiB of each mapped file and of the anonymous mappings (/proc/PID/smaps). --runs daemons
# of each build are measured one after another; each figure is the median.
# --prefix runs the binary under a wrapper (qemu-user for a cross build: the process is then qemu,
# so only the guest's file-backed mappings mean anything).
# Usage: bench/memory_bench.py [--runs 3] default=build/src/sockbridged static=build-static/src/sockbridged
import argparse
import collections
import os
import select
import shlex
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_config(tmp, index):
    with open(os.path.join(SOURCE_ROOT, "config", "sockbridge.yaml")) as f:
        text = f.read()
    tcp, udp = benchlib.free_port(socket.SOCK_STREAM), benchlib.free_port()
    text = text.replace("127.0.0.1:7000", f"127.0.0.1:{tcp}").replace("127.0.0.1:7001", f"127.0.0.1:{udp}")
    text = text.replace("/tmp/sockbridge/", os.path.join(tmp, f"log{index}") + "/")
    # The control socket on a private path, so that no other daemon's client reaches this one.
    return text + f"  control: {os.path.join(tmp, f'control{index}.sock')}\n"


def start_idle(prefix, binary, config_path, timeout):
    """The daemon, once it has logged "running" (bounded by `timeout`)."""
    proc = subprocess.Popen([*prefix, binary, "--config", config_path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, seen = time.monotonic() + timeout, b""
    while b"running" not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stderr], [], [], left)[0]:
            proc.kill()
            raise RuntimeError(f"{binary} did not log 'running' within {timeout}s: {seen[-2000:]!r}")
        chunk = os.read(proc.stderr.fileno(), 65536)
        if not chunk:
            raise RuntimeError(f"{binary} exited before 'running': {seen[-2000:]!r}")
        seen += chunk
    return proc


def memory_kib(pid):
    figures = benchlib.status_kib(pid, "VmRSS", "RssAnon", "RssFile")
    with open(f"/proc/{pid}/smaps_rollup") as f:
        rollup = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split()[-1] == "kB"}
    figures["PSS"] = rollup["Pss"]
    figures["USS"] = rollup["Private_Clean"] + rollup["Private_Dirty"]
    return figures


def resident_by_mapping(pid):
    """Resident KiB per mapped file (its basename), anonymous mappings under "[anon]"."""
    resident, name = collections.Counter(), None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:
                path = fields[5] if len(fields) > 5 else ""
                name = os.path.basename(path) if path.startswith("/") else "[anon]" if not path or path in (
                    "[heap]", "[stack]") else path
            elif fields[0] == "Rss:":
                resident[name] += int(fields[1])
    return resident


def measure(label, binary, args, tmp, index):
    stripped = os.path.join(tmp, f"{label}.stripped")
    subprocess.run([*shlex.split(args.strip), "-o", stripped, binary], check=True)
    config_path = os.path.join(tmp, f"memory{index}.yaml")
    with open(config_path, "w") as f:
        f.write(default_config(tmp, index))
    proc = start_idle(shlex.split(args.prefix), binary, config_path, args.timeout)
    try:
        time.sleep(args.settle_seconds)
        return os.path.getsize(stripped), memory_kib(proc.pid), resident_by_mapping(proc.pid)
    finally:
        benchlib.stop_process(proc)


def mib(kib):
    return f"{kib / 1024:.2f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("builds", nargs="+", metavar="LABEL=BINARY")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle-seconds", type=float, default=2)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--strip", default="strip", help="the strip tool (a cross build's: aarch64-linux-gnu-strip)")
    parser.add_argument("--prefix", default="", help="wrapper command, e.g. 'qemu-aarch64-static -L SYSROOT'")
    args = parser.parse_args()
    rows, breakdowns = [], []
    with benchlib.temp_dir() as tmp:
        index = 0
        for build in args.builds:
            label, _, binary = build.partition("=")
            sizes, figures, mappings = [], collections.defaultdict(list), collections.defaultdict(list)
            for _ in range(args.runs):
                size, status, resident = measure(label, binary, args, tmp, index)
                index += 1
                sizes.append(size)
                for key, value in status.items():
                    figures[key].append(value)
                for name, value in resident.items():
                    mappings[name].append(value)
            median = {key: benchlib.median(values) for key, values in figures.items()}
            rows.append(f"| {label} | {sizes[0]:,} B | {mib(median['VmRSS'])} | {mib(median['RssAnon'])} | "
                        f"{mib(median['RssFile'])} | {mib(median['PSS'])} | {mib(median['USS'])} |")
            ranked = sorted(((benchlib.median(v), n) for n, v in mappings.items()), reverse=True)
            breakdowns.append(f"{label}: " + ", ".join(f"{n} {mib(k)}" for k, n in ranked if k >= 32))
    print(f"idle memory, median of {args.runs} runs each (MiB)\n")
    print("| build | stripped size | VmRSS | RssAnon | RssFile | PSS | USS |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nresident MiB per mapping (32 KiB and more):")
    print("\n".join(breakdowns))


if __name__ == "__main__":
    main()
