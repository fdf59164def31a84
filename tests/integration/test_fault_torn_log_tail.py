# SPDX-License-Identifier: MIT
# Fault injection: a log whose last record was torn (the daemon killed in the middle of a write).
# The restarted daemon cuts the half record before appending, logs which file and how many bytes,
# and counts it (torn_tails, truncated_bytes); every record of the pcap, candump and jsonl logs is
# then whole for a real reader (a strict pcap walk, tshark, json.loads per line), old and new.
import os
import re

import harness
import logfiles
from harness import Daemon, check_equal
from logfiles import frame_line


def tear(path, torn):
    """Appends `torn`, the start of a record, as a write cut short by a kill leaves it."""
    with open(path, "ab") as f:
        f.write(torn)
    return len(torn)


def last_pcap_record(path):
    data = open(path, "rb").read()
    at, last = logfiles.PCAP_HEADER, None
    for record in logfiles.pcap_records(path):
        last = data[at:at + logfiles.RECORD_HEADER + len(record)]
        at += len(last)
    return last


def last_line(path):
    return open(path, "rb").read().rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"


def run_and_append(cfg, tmp, paths, torn, start, count):
    """Starts the daemon on the torn logs, checks what it cut, sends `count` frames, stops it."""
    logged = [p for p in paths if p in torn]
    with Daemon(cfg, tmp) as daemon:
        for path in logged:
            m = daemon.wait_for_log(rf"Log '{re.escape(path)}': cut (\d+) bytes of a torn last record",
                                    what=f"the cut of {path}")
            check_equal(int(m.group(1)), torn[path], f"bytes cut from {path}")
        counters = daemon.counters()
        for path in logged:
            got = counters["logs"][path]
            check_equal((got["torn_tails"], got["truncated_bytes"]), (1, torn[path]),
                        f"{path}: torn_tails, truncated_bytes")
        sender = harness.tcp_connect(port_of(cfg))
        sender.sendall(b"".join(frame_line(start + i) + b"\n" for i in range(count)))
        sender.close()
        daemon.wait_counter(lambda c: all(c["logs"][p]["messages_out"] == count for p in logged),
                            what="every new record written")
        check_equal(daemon.stop(), 0, "exit code")


def port_of(cfg):
    return int(re.search(r"listen: 127\.0\.0\.1:(\d+)", cfg).group(1))


def log_paths(tmp):
    return [os.path.join(tmp, name) for name in ("frames.pcap", "frames.log", "frames.jsonl")]


def test_a_torn_last_record_is_cut_before_the_restarted_daemon_appends():
    with harness.temp_dir() as tmp:
        paths = log_paths(tmp)
        pcap, candump, jsonl = paths
        cfg = logfiles.can_log_config(harness.free_tcp_port(), *paths)
        first, second = 200, 150
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port_of(cfg))
            sender.sendall(b"".join(frame_line(i) + b"\n" for i in range(first)))
            sender.close()
            harness.wait_until(lambda: harness.count_lines(candump) == first, what="the candump log")
            check_equal(daemon.stop(), 0, "exit code")
        logfiles.check_can_logs(*paths, first)

        # Half a line, and a pcap record header with 3 bytes of its frame.
        torn = {candump: tear(candump, last_line(candump)[:11]), jsonl: tear(jsonl, last_line(jsonl)[:40])}
        if logfiles.WITH_PCAP:
            torn[pcap] = tear(pcap, last_pcap_record(pcap)[:logfiles.RECORD_HEADER + 3])
        run_and_append(cfg, tmp, paths, torn, first, second)
        logfiles.check_can_logs(*paths, first + second)
        check_equal(logfiles.candump_frames(candump), [frame_line(i) for i in range(first + second)],
                    "the frames in the candump log, both runs in order")


def test_a_log_holding_only_a_torn_start_is_written_from_the_beginning():
    with harness.temp_dir() as tmp:
        paths = log_paths(tmp)
        pcap, candump, jsonl = paths
        cfg = logfiles.can_log_config(harness.free_tcp_port(), *paths)
        # A pcap whose file header was cut after 10 bytes; logs whose first line never ended.
        torn = {candump: tear(candump, b"(1700000000.000000) in 1"), jsonl: tear(jsonl, b'{"ts":"2026-11-')}
        if logfiles.WITH_PCAP:
            torn[pcap] = tear(pcap, bytes.fromhex("4d3cb2a1 0200 0400 0000"))
        count = 120
        run_and_append(cfg, tmp, paths, torn, 0, count)
        logfiles.check_can_logs(*paths, count)
        check_equal(logfiles.candump_frames(candump), [frame_line(i) for i in range(count)], "the candump log")


if __name__ == "__main__":
    harness.main()
