# SPDX-License-Identifier: MIT
# Readers of the logs the daemon writes, strict about whole records: a pcap walk, tshark, candump
# lines; and the CAN frames the log tests send (Python 3 standard library only).
import os
import shutil
import struct
import subprocess

import harness
from harness import check, check_equal

PCAP_HEADER = 24
RECORD_HEADER = 16
LINKTYPE_CAN_SOCKETCAN = 227

# A build without libpcap has no pcap log.
FEATURES = os.environ.get("SOCKBRIDGE_FEATURES")
WITH_PCAP = FEATURES is None or "pcap" in FEATURES.split(",")


def frame_line(i):
    """The i-th CAN frame of a test, as a bare candump line without its newline."""
    return b"%03X#%s" % (0x100 + i % 0x600, (b"%02X" % (i % 256)) * (i % 9))


def pcap_records(path, linktype=LINKTYPE_CAN_SOCKETCAN):
    """Every record of a pcap file; fails on a second file header or a torn record."""
    data = open(path, "rb").read()
    check(len(data) >= PCAP_HEADER, f"{path}: {len(data)} bytes, no pcap header")
    magic, major, minor, _, _, snaplen, file_linktype = struct.unpack("<IHHiIII", data[:PCAP_HEADER])
    check_equal((magic, major, minor, file_linktype), (0xA1B23C4D, 2, 4, linktype),
                "pcap magic (ns), version, link type")
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


def candump_frames(path):
    """The frames of a candump log (the last word of each line); fails on an unfinished line."""
    lines = open(path, "rb").read().split(b"\n")
    check_equal(lines[-1], b"", f"{path} ends with a whole line")
    return [line.split(b" ")[-1] for line in lines[:-1]]


def check_can_logs(pcap, candump, jsonl, count):
    """That the pcap (when built), candump and jsonl logs each hold `count` whole records."""
    if WITH_PCAP:
        check_equal(len(pcap_records(pcap)), count, "pcap records")
        seen = tshark_count(pcap)
        if seen is not None:
            check_equal(seen, count, "packets tshark reads")
    check_equal(len(candump_frames(candump)), count, "candump lines")
    check_equal(len(harness.read_jsonl(jsonl)), count, "jsonl records (each a whole JSON line)")


def can_log_config(port_in, pcap, candump, jsonl):
    """A tcp listener taking candump lines, logged to candump, jsonl and (when built) pcap."""
    cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: candump}}
routes:
  - {{from: in, log: {{path: {candump}, format: candump}}}}
  - {{from: in, log: {{path: {jsonl}, format: jsonl}}}}
"""
    if WITH_PCAP:
        cfg += f"  - {{from: in, log: {{path: {pcap}, format: pcap}}}}\n"
    return cfg
