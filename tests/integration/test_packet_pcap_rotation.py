# SPDX-License-Identifier: MIT
# A pcap log rotated by size: every file (path, path.1 .. path.N) starts with its own pcap header,
# stays within the size, is read whole by libpcap and tcpdump -r, and together they hold every
# captured frame once, in order.
import os

import harness
import netns
from harness import Daemon, check, check_equal

ROTATE_SIZE = 4096


def rotated_files(log_path):
    """path.N .. path.1, path: oldest first; no gaps in the numbers."""
    directory, base = os.path.split(log_path)
    numbers = sorted(int(name[len(base) + 1:]) for name in os.listdir(directory)
                     if name.startswith(base + ".") and name[len(base) + 1:].isdigit())
    check_equal(numbers, list(range(1, len(numbers) + 1)), "rotated file numbers (no gaps)")
    return [f"{log_path}.{n}" for n in reversed(numbers)] + [log_path]


def run_capture(tmp, log_path, keep, count):
    with netns.Network() as net:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b, v4=("192.0.2.1/24", "192.0.2.2/24"))
        net.up()
        with b.socket() as receiver:
            receiver.bind(("192.0.2.2", 0))
            port = receiver.getsockname()[1]
            cfg = f"""\
listeners:
  cap:
    type: packet
    interface: {lb.name}
    filter: "udp dst port {port}"
routes:
  - from: cap
    log: {{path: {log_path}, format: pcap, rotate: {{size: 4KiB, keep: {keep}}}}}
"""
            payloads = [b"frame %05d " % i + b"p" * (i % 90) for i in range(count)]
            with Daemon(cfg, tmp, wrapper=b.wrapper) as daemon:
                # In batches the receiver's buffer surely holds.
                for start in range(0, count, 50):
                    batch = payloads[start:start + 50]
                    netns.send_udp(a, ("192.0.2.2", port), batch)
                    harness.recv_datagrams(receiver, len(batch))
                daemon.wait_counter(lambda c: netns.captured(c, "cap") >= count, what=f"{count} captured")
                check_equal(daemon.stop(), 0, "exit code")
            check_equal(netns.captured(daemon.final_counters(), "cap"), count, "captured (final counters)")
    return payloads


def read_files(files):
    got = []
    for path in files:
        size = os.path.getsize(path)
        check(size <= ROTATE_SIZE, f"{path} is {size} bytes, over the rotation size {ROTATE_SIZE}")
        f = netns.load_pcap(path, linktype=netns.LINKTYPE_ETHERNET)   # its own header, whole records
        check(f.packets, f"{path} holds no frame")
        netns.tcpdump_read(path, expect_packets=len(f.packets))
        got += [netns.decode(f.linktype, p.data).payload for p in f.packets]
    return got


def test_every_rotated_file_is_a_whole_pcap_and_nothing_is_lost():
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "pcap", "cap.pcap")
        payloads = run_capture(tmp, log_path, keep=200, count=400)
        files = rotated_files(log_path)
        check(len(files) > 5, f"only {len(files)} files: the log did not rotate as expected")
        check_equal(read_files(files), payloads, "payloads across all files, oldest first")
        print(f"{len(payloads)} frames in {len(files)} files")


def test_keep_bounds_the_files_and_the_newest_frames_survive():
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "cap.pcap")
        payloads = run_capture(tmp, log_path, keep=2, count=300)
        files = rotated_files(log_path)
        check_equal(files, [f"{log_path}.2", f"{log_path}.1", log_path], "log files")
        got = read_files(files)
        check(0 < len(got) < len(payloads), f"{len(got)} frames kept of {len(payloads)}")
        check_equal(got, payloads[len(payloads) - len(got):], "the kept frames: the newest, in order")


if __name__ == "__main__":
    harness.main()
