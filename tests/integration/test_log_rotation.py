# SPDX-License-Identifier: MIT
# Log rotation by size: path, path.1 .. path.keep (newest is .1), no more files than keep, every
# record a complete JSON line in one file, and nothing lost while the files are kept.
import os

import harness
from harness import Daemon, check, check_equal

ROTATE_SIZE = 4096  # the smallest the config accepts


def config(port, log_path, keep):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port}, format: lines}}
routes:
  - from: in
    log: {{path: {log_path}, format: jsonl, rotate: {{size: 4KiB, keep: {keep}}}}}
"""


def send_lines(daemon, port, lines):
    sender = harness.tcp_connect(port)
    local = sender.getsockname()[1]
    # In pieces, so the log sink sees many batches, not one.
    for start in range(0, len(lines), 50):
        sender.sendall(b"".join(line + b"\n" for line in lines[start:start + 50]))
    sender.close()
    daemon.wait_for_log(rf"Listener 'in': 127\.0\.0\.1:{local} closed")


def log_files(log_path):
    """path.N .. path.1, path: oldest first."""
    directory, base = os.path.split(log_path)
    numbers = []
    for name in os.listdir(directory):
        if name.startswith(base + "."):
            suffix = name[len(base) + 1:]
            check(suffix.isdigit(), f"unexpected file {name} next to the log")
            numbers.append(int(suffix))
    numbers.sort()
    check_equal(numbers, list(range(1, len(numbers) + 1)), "rotated file numbers (no gaps)")
    return [f"{log_path}.{n}" for n in reversed(numbers)] + [log_path]


def read_all(files):
    texts = []
    for path in files:
        size = os.path.getsize(path)
        check(size <= ROTATE_SIZE, f"{path} is {size} bytes, over the rotation size {ROTATE_SIZE}")
        records = harness.read_jsonl(path)  # fails on a line that is not complete JSON
        check(records or path.endswith(".jsonl"), f"{path} is empty")
        for r in records:
            check_equal(r["source"], "in", f"source of a record in {path}")
        texts += [r["text"].encode() for r in records]
    return texts


def lines_to_send(count):
    return [b"record %05d %s" % (i, b"r" * (i % 40)) for i in range(count)]


def test_every_record_is_kept_when_keep_is_large_enough():
    port = harness.free_tcp_port()
    lines = lines_to_send(1500)
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "logs", "traffic.jsonl")
        with Daemon(config(port, log_path, 500), tmp) as daemon:
            send_lines(daemon, port, lines)
            check_equal(daemon.stop(), 0, "exit code")
        files = log_files(log_path)
        check(len(files) > 10, f"only {len(files)} files: the log did not rotate as expected")
        texts = read_all(files)
        check_equal(len(texts), len(lines), "records across all files")
        check_equal(texts, lines, "records, oldest file first")
        print(f"{len(lines)} records in {len(files)} files")


def test_no_more_than_keep_files_and_the_newest_records_survive():
    port = harness.free_tcp_port()
    lines = lines_to_send(1500)
    keep = 3
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "traffic.jsonl")
        with Daemon(config(port, log_path, keep), tmp) as daemon:
            send_lines(daemon, port, lines)
            check_equal(daemon.stop(), 0, "exit code")
        files = log_files(log_path)
        check_equal(files, [f"{log_path}.{n}" for n in range(keep, 0, -1)] + [log_path], "log files")
        check(not os.path.exists(f"{log_path}.{keep + 1}"), f"{log_path}.{keep + 1} exists")
        texts = read_all(files)
        check(0 < len(texts) < len(lines), f"{len(texts)} records kept of {len(lines)}")
        check_equal(texts, lines[len(lines) - len(texts):], "the kept records: the newest, in order")


def test_rotation_continues_an_existing_log():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "traffic.jsonl")
        first, second = lines_to_send(10), [b"second run %d" % i for i in range(200)]
        for batch in (first, second):
            with Daemon(config(port, log_path, 100), tmp) as daemon:
                send_lines(daemon, port, batch)
                check_equal(daemon.stop(), 0, "exit code")
        texts = read_all(log_files(log_path))
        check_equal(texts, first + second, "records of both runs, in order")


if __name__ == "__main__":
    harness.main()
