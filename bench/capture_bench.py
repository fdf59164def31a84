#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Packet capture to a pcap file: sockbridge (a `type: packet` listener routed to a pcap log) against
# `tcpdump -w`, on the same traffic: 64-byte UDP datagrams sent at a fixed rate by `blast udp-send`
# from one network namespace to another over a veth pair, captured on the receiving end.
# Offered rates step up until a packet is missing from the file or the kernel reports a drop
# (PACKET_STATISTICS: sockbridge's kernel_drops counter, tcpdump's "dropped by kernel" at exit);
# the figure is the highest rate with every packet in the file. Median of --runs runs; tools take
# turns at each rate. Stall tolerance: at a modest rate (--pause-rate) the capturing process is
# stopped (SIGSTOP) for growing --pauses while the traffic flows; the figure is the longest stop
# after which every packet is still in the file (what the kernel ring held meanwhile).
# Needs root (namespaces). The kernel has no pktgen module here, hence blast.
# Usage: bench/capture_bench.py --sockbridged build/src/sockbridged --blast build/bench/blast [--runs 5]
#            [--only rates|pauses]
import argparse
import os
import re
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

NS_SEND, NS_CAPTURE = "sbcap-send", "sbcap-capture"
IF_SEND, IF_CAPTURE = "sbcap0", "sbcap1"
ADDR_SEND, ADDR_CAPTURE = "10.231.0.1", "10.231.0.2"
PORT = 9999
# 0: as fast as blast can send (the veth pair, not the capture, is then the limit).
RATES = [20000, 50000, 100000, 200000, 0]
TOOLS = ("sockbridge", "tcpdump")


def sh(*argv, check=True):
    subprocess.run(argv, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if not check else None)


def setup():
    teardown()
    sh("ip", "netns", "add", NS_SEND)
    sh("ip", "netns", "add", NS_CAPTURE)
    sh("ip", "link", "add", IF_SEND, "netns", NS_SEND, "type", "veth", "peer", "name", IF_CAPTURE, "netns", NS_CAPTURE)
    for ns, interface, address in ((NS_SEND, IF_SEND, ADDR_SEND), (NS_CAPTURE, IF_CAPTURE, ADDR_CAPTURE)):
        sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", interface)
        sh("ip", "-n", ns, "link", "set", interface, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # Static neighbours: no ARP packets in the capture or delay before the first datagram.
    mac = lambda ns, interface: re.search(r"link/ether (\S+)", subprocess.run(  # noqa: E731
        ["ip", "-n", ns, "link", "show", interface], capture_output=True, text=True).stdout).group(1)
    sh("ip", "-n", NS_SEND, "neigh", "replace", ADDR_CAPTURE, "lladdr", mac(NS_CAPTURE, IF_CAPTURE), "dev", IF_SEND)


def teardown():
    for ns in (NS_SEND, NS_CAPTURE):
        sh("ip", "netns", "del", ns, check=False)


def pcap_count(path):
    """Records in a pcap file (micro- or nanosecond, either byte order)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return 0
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    count, offset = 0, 24
    while offset + 16 <= len(data):
        captured = struct.unpack_from(order + "I", data, offset + 8)[0]
        offset += 16 + captured
        count += 1
    return count


class Capture:
    """`tool` capturing on the receiving veth into TMP/TOOL.pcap; `pid` is the capturing process."""

    def __init__(self, tool, args, tmp):
        self.tool = tool
        self.pcap = os.path.join(tmp, f"{tool}.pcap")
        if os.path.exists(self.pcap):
            os.unlink(self.pcap)
        in_ns = ["ip", "netns", "exec", NS_CAPTURE]
        filter_ = f"udp and dst port {PORT}"
        if tool == "sockbridge":
            ring = f", ring: {args.ring}" if args.ring else ""
            config = f"""listeners:
  tap: {{type: packet, interface: {IF_CAPTURE}, direction: in, filter: "{filter_}", snaplen: 2048{ring}}}
routes:
  - {{from: tap, log: {{path: {self.pcap}, format: pcap}}}}
daemon: {{log_level: notice}}
"""
            self.daemon = benchlib.Sockbridged(args.sockbridged, config, tmp, "capture.yaml", prefix=in_ns)
            self.pid = self.daemon.pid
        else:
            # The same ring memory as sockbridge's default (8 MiB) and the same snap length.
            self.daemon = subprocess.Popen([*in_ns, "tcpdump", "-i", IF_CAPTURE, "-Q", "in", "-s", "2048", "-B",
                                            "8192", "-n", "-w", self.pcap, filter_], stderr=subprocess.PIPE, text=True)
            for line in self.daemon.stderr:  # "listening on ...": its socket is open
                if "listening on" in line:
                    break
            self.pid = self.daemon.pid  # `ip netns exec` execs the tool: the same process

    def finish(self):
        """(packets in the file, kernel drops, capture CPU seconds)."""
        # tcpdump reads its ring a block at a time and a block is handed over 1 s after it opened at
        # the latest (its to_ms); at SIGINT it stops without the block still being filled.
        time.sleep(1.5)
        if self.tool == "sockbridge":
            cpu = self.daemon.stop()
            drops = self.daemon.final_counters()["listeners"]["tap"]["kernel_drops"]
        else:
            cpu = benchlib.stop_process(self.daemon, sig=2)  # SIGINT: tcpdump flushes and prints its statistics
            tail = self.daemon.stderr.read()
            drops = int(re.search(r"(\d+) packets? dropped by kernel", tail).group(1))
        return pcap_count(self.pcap), drops, cpu


def blast(args, rate, count, wait=True):
    pace = [str(rate)] if rate else []
    argv = ["ip", "netns", "exec", NS_SEND, args.blast, "udp-send", ADDR_CAPTURE, str(PORT), str(count), "64", *pace]
    if not wait:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def capture(tool, args, tmp, rate, count):
    """One rate step: (packets in the file, kernel drops, the rate blast managed, capture CPU seconds)."""
    running = Capture(tool, args, tmp)
    sent = blast(args, rate, count)
    seconds = float(sent.stdout.split()[1]) if len(sent.stdout.split()) > 1 else None
    got, drops, cpu = running.finish()
    return got, drops, (count / seconds if seconds else None), cpu


def paused_capture(tool, args, tmp, pause_ms):
    """Traffic at --pause-rate for LEAD + pause + TAIL seconds while the capturing process is stopped
    (SIGSTOP) for `pause_ms` from LEAD on: (packets sent, packets in the file, kernel drops)."""
    lead, tail = 0.3, 0.7
    count = int(args.pause_rate * (lead + pause_ms / 1000 + tail))
    running = Capture(tool, args, tmp)
    sender = blast(args, args.pause_rate, count, wait=False)
    time.sleep(lead)
    os.kill(running.pid, signal.SIGSTOP)
    try:
        time.sleep(pause_ms / 1000)
    finally:
        os.kill(running.pid, signal.SIGCONT)
    if sender.wait(timeout=60 + pause_ms / 1000) != 0:
        raise RuntimeError("blast udp-send failed")
    got, drops, _ = running.finish()
    return count, got, drops


def pause_steps(args, tmp, run, longest):
    """Pauses grow until a tool loses a packet; `longest[tool]` gets the longest one it survived."""
    alive = {tool: True for tool in TOOLS}
    top = {tool: 0 for tool in TOOLS}
    for pause in args.pauses:
        for tool in TOOLS:
            if not alive[tool]:
                continue
            count, got, drops = paused_capture(tool, args, tmp, pause)
            print(f"run {run + 1}: {tool} stopped {pause} ms at {args.pause_rate}/s: {got}/{count} in the file, "
                  f"{drops} kernel drops", file=sys.stderr, flush=True)
            if got < count or drops:
                alive[tool] = False
            else:
                top[tool] = pause
        if not any(alive.values()):
            break
    for tool in TOOLS:
        longest[tool].append(top[tool])


def fmt(value):
    return "n/a" if value is None else f"{value:.2f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockbridged", required=True)
    parser.add_argument("--blast", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--step-seconds", type=float, default=1.0)
    parser.add_argument("--flood-count", type=int, default=500000, help="datagrams of the full-rate step")
    parser.add_argument("--pauses", default="100,250,500,1000,1500,2000,3000",
                        help="stall tolerance: milliseconds the capturing process is stopped (SIGSTOP), growing")
    parser.add_argument("--pause-rate", type=int, default=20000, help="packets/s sent during the pause steps")
    parser.add_argument("--only", choices=("rates", "pauses"), help="run one of the two parts")
    parser.add_argument("--ring", help="sockbridge's `ring:` setting (YAML), e.g. the old default "
                        "'{block_size: 1MiB, blocks: 8, timeout: 10ms}'; its default when left out")
    args = parser.parse_args()
    args.sockbridged, args.blast = os.path.abspath(args.sockbridged), os.path.abspath(args.blast)
    args.pauses = [int(p) for p in args.pauses.split(",")]
    longest_pause = {tool: [] for tool in TOOLS}
    best = {tool: [] for tool in TOOLS}
    achieved = {tool: [] for tool in TOOLS}
    cpu_per_packet = {tool: [] for tool in TOOLS}
    setup()
    try:
        with benchlib.temp_dir() as tmp:
            for run in range(args.runs):
                if args.only != "rates":
                    pause_steps(args, tmp, run, longest_pause)
                if args.only == "pauses":
                    continue
                alive = {tool: True for tool in TOOLS}
                top = {tool: 0 for tool in TOOLS}
                managed = {tool: 0.0 for tool in TOOLS}
                for rate in RATES:
                    for tool in TOOLS:
                        if not alive[tool]:
                            continue
                        count = int(rate * args.step_seconds) if rate else args.flood_count
                        got, drops, sent_rate, cpu = capture(tool, args, tmp, rate, count)
                        print(f"run {run + 1}: {tool} at {rate or 'full'}/s (blast managed {sent_rate or 0:.0f}/s): "
                              f"{got}/{count} in the file, {drops} kernel drops, {cpu:.2f} s CPU",
                              file=sys.stderr, flush=True)
                        if got < count or drops:
                            alive[tool] = False
                        else:
                            top[tool], managed[tool] = rate, (min(rate, sent_rate) if rate else sent_rate)
                            if rate == 0:
                                cpu_per_packet[tool].append(cpu / count * 1e6)
                    if not any(alive.values()):
                        break
                for tool in TOOLS:
                    best[tool].append(top[tool])
                    achieved[tool].append(managed[tool])
    finally:
        teardown()
    print(f"| capture to pcap, median of {args.runs} runs | sockbridge | tcpdump | ratio |")
    print("|---|---|---|---|")
    if args.only != "pauses":
        sa, ta = benchlib.median(achieved["sockbridge"]), benchlib.median(achieved["tcpdump"])
        sc, tc = benchlib.median(cpu_per_packet["sockbridge"]), benchlib.median(cpu_per_packet["tcpdump"])
        full = {tool: sum(1 for rate in best[tool] if rate == 0) for tool in TOOLS}
        print(f"| highest rate with every packet in the file and no kernel drops (packets/s) | {sa:.0f} | {ta:.0f} "
              f"| {benchlib.ratio(sa, ta)} |")
        print(f"| runs without a loss even at blast's full rate | {full['sockbridge']}/{args.runs} | "
              f"{full['tcpdump']}/{args.runs} | |")
        print(f"| capture CPU time per packet at full rate (µs, lower is better) | {fmt(sc)} | {fmt(tc)} | "
              f"{benchlib.ratio(sc, tc)} |")
        print(f"per run, highest rate: {best}", file=sys.stderr)
    if args.only != "rates":
        sp, tp = benchlib.median(longest_pause["sockbridge"]), benchlib.median(longest_pause["tcpdump"])
        print(f"| longest stop (SIGSTOP) survived without a loss at {args.pause_rate} packets/s (ms; steps "
              f"{', '.join(map(str, args.pauses))}) | {sp:.0f} | {tp:.0f} | {benchlib.ratio(sp, tp)} |")
        print(f"per run, longest stop: {longest_pause}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
