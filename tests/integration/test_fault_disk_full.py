# SPDX-License-Identifier: MIT
# Fault injection: the disk under a log fills up (a small tmpfs, mounted in this test's own mount
# namespace). The write error is logged once and counted per record, bridging goes on, the file
# keeps only whole records, and logging resumes once space returns.
import ctypes
import errno
import os

import harness
from harness import Daemon, check, check_equal

CLONE_NEWNS = 0x00020000
TMPFS_SIZE = 256 << 10


def private_tmpfs(path):
    """A TMPFS_SIZE tmpfs at `path`, seen only by this process and its children (the daemon)."""
    harness.require_root("mounts a tmpfs")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise harness.Skip(f"cannot make a mount namespace: {os.strerror(ctypes.get_errno())}")
    harness.run(["mount", "--make-rprivate", "/"])
    harness.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "sockbridge-test", path])


def fill(path):
    """Writes a file until the filesystem is full; returns its size."""
    size = 0
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                size += f.write(b"\0" * 4096)
            except OSError as e:
                check_equal(e.errno, errno.ENOSPC, "error filling the tmpfs")
                return size


def test_a_full_disk_drops_log_records_counted_and_logging_resumes_when_space_returns():
    port_in = harness.free_tcp_port()
    receiver = harness.udp_socket()
    with harness.temp_dir() as tmp:
        disk = os.path.join(tmp, "disk")
        os.mkdir(disk)
        private_tmpfs(disk)
        try:
            log_path = os.path.join(disk, "traffic.jsonl")
            cfg = harness.forward_config(port_in, receiver, in_format="lines",
                                         extra_routes=[f"{{from: in, log: {{path: {log_path}, format: jsonl}}}}"])
            with Daemon(cfg, tmp) as daemon:
                sender = harness.tcp_connect(port_in)

                def send(lines):
                    sender.sendall(b"".join(line + b"\n" for line in lines))
                    check_equal(harness.recv_datagrams(receiver, len(lines)), lines, "datagrams bridged")

                before = [b"before %03d" % i for i in range(20)]
                send(before)
                harness.wait_until(lambda: harness.count_lines(log_path) == len(before), what="the first records")

                filler = os.path.join(disk, "filler")
                since = daemon.mark()
                fill(filler)
                # A record a datagram, so that they come one per write, each of which fails.
                during = [b"during %03d %s" % (i, b"d" * 200) for i in range(50)]
                for line in during:
                    send([line])
                daemon.wait_for_log(rf"Failed to write log '{log_path}': No space left on device; dropping records",
                                    since=since)
                log = daemon.wait_counter(lambda c: c["logs"][log_path]["errors"] >= 1,
                                          what="log errors")["logs"][log_path]
                print(f"disk full: {log['errors']} records dropped, {log['messages_out']} written")
                check(log["errors"] + log["messages_out"] == len(before) + len(during),
                      f"log counters do not add up: {log}")
                check_equal(len(daemon.log_matches(r"Failed to write log")), 1, "error lines for one outage")

                since = daemon.mark()
                os.unlink(filler)
                after = [b"after %03d" % i for i in range(20)]
                send(after)
                daemon.wait_for_log(rf"Log '{log_path}': writing again; \d+ records were dropped", since=since)
                records = harness.wait_until(
                    lambda: [r for r in harness.read_jsonl(log_path) if r["text"].startswith("after")] and
                    harness.read_jsonl(log_path), what="records after the space returned")
                texts = [r["text"].encode() for r in records]  # read_jsonl fails on a torn line
                check_equal(texts[:len(before)], before, "records from before the disk filled")
                written_during = texts[len(before):len(texts) - len(after)]
                check(all(t in during for t in written_during), "unexpected records while the disk was full")
                check_equal(texts[len(texts) - len(after):], after, "records after the space returned")
                sender.close()
                check_equal(daemon.stop(), 0, "exit code")
                final = daemon.final_counters()
                check_equal(final["listeners"]["out"]["messages_out"], len(before) + len(during) + len(after),
                            "datagrams bridged (none lost to the full disk)")
                log = final["logs"][log_path]
                check_equal(log["messages_out"], len(texts), "log messages_out = records in the file")
                check_equal(log["messages_out"] + log["errors"], len(before) + len(during) + len(after),
                            "log records written + dropped")
        finally:
            harness.run(["umount", disk], check_rc=False)


if __name__ == "__main__":
    harness.main()
