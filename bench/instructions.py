#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Instructions per message on the relay paths, counted by valgrind --tool=callgrind: unlike time,
# they hardly depend on what else the machine is doing, so later changes can be compared exactly.
#   udp: a UDP->UDP relay of 64-byte datagrams (on the host)
#   can: vcan0 -> cannelloni over UDP -> vcan1 through two daemons (in the test VM: SocketCAN),
#        counted for each daemon: can->encode->udp and udp->decode->can
#   capture: a packet listener on a veth in a network namespace -> a pcap log (64-byte UDP
#        datagrams, the capture benchmark's setup; root)
# Each path runs twice, with --small and --large messages, both at --rate a second; the figure is
# (instructions of the large run - instructions of the small run) / (large - small), so start-up,
# configuration and shutdown cancel out. Batches grow with the rate, so compare figures at one rate.
# Usage: bench/instructions.py --sockbridged build/src/sockbridged --blast build/bench/blast \
#            --can-blast build/bench/can_blast [--paths udp,can,capture]
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import capture_bench  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_IF, OUT_IF = "sbinsn0", "sbinsn1"


def callgrind(args, config, tmp, name, prefix=()):
    """sockbridged with `config` under callgrind: (daemon, path of its callgrind output)."""
    out = os.path.join(tmp, f"callgrind.{name}")
    wrapper = os.path.join(tmp, f"{name}.sh")
    # A wrapper, because benchlib starts the binary it is given with --config.
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={out} {args.sockbridged} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return benchlib.Sockbridged(wrapper, config, tmp, f"{name}.yaml", timeout=300, prefix=prefix), out


def instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"{path}: no totals")


def udp_run(args, tmp, count):
    in_port, out_port = benchlib.free_port(), benchlib.free_port()
    config = f"""listeners:
  front: {{type: udp, bind: 127.0.0.1:{in_port}, receive_buffer: 8MiB}}
  back: {{type: udp, peer: 127.0.0.1:{out_port}}}
routes:
  - {{from: front, to: back, queue: {{max_messages: 65536}}}}
daemon: {{log_level: warning}}
"""
    sink = subprocess.Popen([args.blast, "udp-recv", str(out_port), "2000"], stdout=subprocess.PIPE, text=True)
    if sink.stdout.readline().strip() != "ready":
        raise RuntimeError("blast udp-recv did not start")
    daemon, out = callgrind(args, config, tmp, f"udp{count}")
    subprocess.run([args.blast, "udp-send", "127.0.0.1", str(in_port), str(count), "64", str(args.rate)],
                   check=True, stdout=subprocess.DEVNULL)
    received = int(sink.communicate(timeout=120)[0].split()[0])
    daemon.stop()
    if received != count:
        raise RuntimeError(f"udp: {received} of {count} datagrams arrived: lower --rate")
    return {"udp->udp relay": instructions(out)}


def can_run(args, tmp, count):
    port = benchlib.free_port()
    sender, receiver = benchlib.cannelloni_bridge(IN_IF, OUT_IF, port)
    sink = subprocess.Popen([args.can_blast, "recv", OUT_IF, str(count), "3000"], stdout=subprocess.PIPE, text=True)
    if sink.stdout.readline().strip() != "ready":
        raise RuntimeError("can_blast recv did not start")
    far, far_out = callgrind(args, receiver, tmp, f"canrx{count}")
    near, near_out = callgrind(args, sender, tmp, f"cantx{count}")
    subprocess.run([args.can_blast, "send", IN_IF, str(args.rate), str(count)], check=True, stdout=subprocess.DEVNULL)
    got = dict(re.findall(r"(\w+) (\S+)", sink.communicate(timeout=300)[0]))
    near.stop()
    far.stop()
    if int(got["received"]) != count:
        raise RuntimeError(f"can: {got['received']} of {count} frames arrived: lower --rate")
    return {"can->cannelloni->udp": instructions(near_out), "udp->cannelloni->can": instructions(far_out)}


def capture_run(args, tmp, count):
    ns = capture_bench
    pcap = os.path.join(tmp, f"capture{count}.pcap")
    if os.path.exists(pcap):  # the log appends
        os.unlink(pcap)
    ring = f", ring: {args.ring}" if args.ring else ""
    config = f"""listeners:
  tap: {{type: packet, interface: {ns.IF_CAPTURE}, direction: in, filter: "udp and dst port {ns.PORT}", snaplen: 2048{ring}}}
routes:
  - {{from: tap, log: {{path: {pcap}, format: pcap}}}}
daemon: {{log_level: warning}}
"""
    daemon, out = callgrind(args, config, tmp, f"capture{count}", prefix=["ip", "netns", "exec", ns.NS_CAPTURE])
    subprocess.run(["ip", "netns", "exec", ns.NS_SEND, args.blast, "udp-send", ns.ADDR_CAPTURE, str(ns.PORT),
                    str(count), "64", str(args.rate)], check=True, stdout=subprocess.DEVNULL)
    daemon.stop()
    got = ns.pcap_count(pcap)
    if got != count:
        raise RuntimeError(f"capture: {got} of {count} packets in the pcap: lower --rate")
    return {"packet capture -> pcap log": instructions(out)}


def make_vcans():
    for name in (IN_IF, OUT_IF):
        subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)
        for argv in (["add", "dev", name, "type", "vcan"], ["set", name, "txqueuelen", "10000"], ["set", "up", name]):
            subprocess.run(["ip", "link", *argv], check=True)


def measure(args, paths, tmp, results):
    """Fills `results` with instructions per message for each path; keeps the callgrind outputs."""
    runs = {"udp": udp_run, "can": can_run, "capture": capture_run}
    for path in paths:
        # Batch sizes vary with timing, so the figure moves by up to ~10% between measurements.
        figures = {}
        for _ in range(args.repeat):
            small, large = runs[path](args, tmp, args.small), runs[path](args, tmp, args.large)
            for name in small:
                figures.setdefault(name, []).append((large[name] - small[name]) / (args.large - args.small))
        for name, values in figures.items():
            results[name] = benchlib.median(values)
    if args.keep:
        for name in os.listdir(tmp):
            if name.startswith("callgrind."):
                shutil.copy(os.path.join(tmp, name), args.keep)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockbridged", required=True)
    parser.add_argument("--blast", required=True)
    parser.add_argument("--can-blast", help="needed for the can path")
    parser.add_argument("--paths", default="udp,can")
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=12000)
    parser.add_argument("--rate", type=int, default=2000, help="messages a second")
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times, print the median")
    parser.add_argument("--keep", help="copy the callgrind outputs here (for callgrind_annotate)")
    parser.add_argument("--ring", help="capture: the packet listener's `ring:` setting (YAML)")
    args = parser.parse_args()
    for name in ("sockbridged", "blast", "can_blast", "keep"):
        if getattr(args, name) is None:
            continue
        setattr(args, name, os.path.abspath(getattr(args, name)))
    paths = args.paths.split(",")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    if "can" in paths and not os.path.isdir("/proc/net/can"):
        # No SocketCAN here: the CAN path is counted in the test VM, the rest on this machine.
        argv = [sys.executable, os.path.abspath(__file__), "--sockbridged", args.sockbridged, "--blast", args.blast,
                "--can-blast", args.can_blast, "--paths", "can", "--small", str(args.small), "--large",
                str(args.large), "--rate", str(args.rate), "--repeat", str(args.repeat), *(["--keep", args.keep] if args.keep else [])]
        if paths != ["can"]:
            rest = [p for p in paths if p != "can"]
            subprocess.run([sys.argv[0], *sys.argv[1:], "--paths", ",".join(rest)], check=True)
        shares = ["--rw", args.keep] if args.keep else []
        return subprocess.run([os.path.join(SOURCE_ROOT, "tests", "vm", "run-in-vm"), *shares, "--", *argv]).returncode
    results = {}
    with benchlib.temp_dir() as tmp:
        if "can" in paths:
            make_vcans()
        if "capture" in paths:
            capture_bench.setup()
        try:
            measure(args, paths, tmp, results)
        finally:
            if "can" in paths:
                for name in (IN_IF, OUT_IF):
                    subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)
            if "capture" in paths:
                capture_bench.teardown()
    for name, per_message in results.items():
        print(f"| {name} at {args.rate} messages/s, median of {args.repeat} | {per_message:.0f} instructions/message |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
