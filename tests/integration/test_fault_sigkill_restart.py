# SPDX-License-Identifier: MIT
# Fault injection: SIGKILL, then a restart on the same logs. Nothing the daemon wrote is held in a
# buffer of its own: after the kill the pcap, candump and jsonl logs hold every record written so
# far, whole (tshark and a pcap walk read them); the restarted daemon appends to the same files
# (no second pcap header) and they stay valid.
import os
import shutil
import signal
import struct
import subprocess

import harness
from harness import Daemon, check, check_equal

PCAP_HEADER = 24
RECORD_HEADER = 16


def frame_line(i):
    return b"%03X#%s" % (0x100 + i % 0x600, (b"%02X" % (i % 256)) * (i % 9))


def pcap_records(path):
    """Every record of a pcap file; fails on a second file header or a torn record."""
    data = open(path, "rb").read()
    check(len(data) >= PCAP_HEADER, f"{path}: {len(data)} bytes, no pcap header")
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data[:PCAP_HEADER])
    check_equal((magic, major, minor, linktype), (0xA1B23C4D, 2, 4, 227), "pcap magic (ns), version, link type")
    records, at = [], PCAP_HEADER
    while at < len(data):
        check(at + RECORD_HEADER <= len(data), f"{path}: a torn record header at {at}")
        _, _, incl, orig = struct.unpack("<IIII", data[at:at + RECORD_HEADER])
        check(incl <= snaplen and incl <= orig, f"{path}: a record of {incl} bytes at {at} (a second header?)")
        check(at + RECORD_HEADER + incl <= len(data), f"{path}: a torn record at {at}")
        records.append(data[at + RECORD_HEADER:at + RECORD_HEADER + incl])
        at += RECORD_HEADER + incl
    return records


def tshark_count(path):
    """Packets tshark reads (None without tshark); it fails on a damaged file."""
    if shutil.which("tshark") is None:
        return None
    result = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"], capture_output=True,
                            timeout=60, env=dict(os.environ, HOME=os.environ.get("TMPDIR", "/tmp")))
    check_equal(result.returncode, 0, f"tshark -r {path}: {result.stderr.decode(errors='replace')}")
    return len(result.stdout.split())


# A build without libpcap has no pcap log: the candump and jsonl logs are still checked.
FEATURES = os.environ.get("SOCKBRIDGE_FEATURES")
WITH_PCAP = FEATURES is None or "pcap" in FEATURES.split(",")


def check_logs(paths, count):
    pcap, candump, jsonl = paths
    if WITH_PCAP:
        check_equal(len(pcap_records(pcap)), count, "pcap records")
        seen = tshark_count(pcap)
        if seen is not None:
            check_equal(seen, count, "packets tshark reads")
    lines = open(candump, "rb").read().split(b"\n")
    check_equal(lines[-1], b"", "candump log ends with a whole line")
    check_equal(len(lines) - 1, count, "candump lines")
    check_equal(len(harness.read_jsonl(jsonl)), count, "jsonl records (each a whole JSON line)")


def test_logs_are_whole_after_sigkill_and_the_restarted_daemon_appends_to_them():
    port_in = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        paths = [os.path.join(tmp, name) for name in ("frames.pcap", "frames.log", "frames.jsonl")]
        logged = paths if WITH_PCAP else paths[1:]
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: candump}}
routes:
  - {{from: in, log: {{path: {paths[1]}, format: candump}}}}
  - {{from: in, log: {{path: {paths[2]}, format: jsonl}}}}
"""
        if WITH_PCAP:
            cfg += f"  - {{from: in, log: {{path: {paths[0]}, format: pcap}}}}\n"
        first, second = 500, 300
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"".join(frame_line(i) + b"\n" for i in range(first)))
            harness.wait_until(lambda: harness.count_lines(paths[1]) == first, what="the candump log")
            harness.wait_until(lambda: harness.count_lines(paths[2]) == first, what="the jsonl log")
            daemon.wait_counter(lambda c: all(c["logs"][p]["messages_out"] == first for p in logged),
                                what="every record written")
            daemon.stop(sig=signal.SIGKILL)
            check_equal(daemon.returncode, -signal.SIGKILL, "killed")
            check(not daemon.log_matches(r"Final counters"), "the daemon was not killed but stopped")
        check_logs(paths, first)

        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"".join(frame_line(first + i) + b"\n" for i in range(second)))
            sender.close()
            harness.wait_until(lambda: harness.count_lines(paths[1]) == first + second, what="the candump log")
            check_equal(daemon.stop(), 0, "exit code")
        check_logs(paths, first + second)
        texts = open(paths[1], "rb").read().split(b"\n")[:-1]
        check_equal([t.split(b" ")[-1] for t in texts], [frame_line(i) for i in range(first + second)],
                    "the frames in the candump log, both runs in order")


if __name__ == "__main__":
    harness.main()
