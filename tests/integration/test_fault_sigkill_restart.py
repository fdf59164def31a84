# SPDX-License-Identifier: MIT
# Fault injection: SIGKILL, then a restart on the same logs. Nothing the daemon wrote is held in a
# buffer of its own: after the kill the pcap, candump and jsonl logs hold every record written so
# far, whole (tshark and a pcap walk read them); the restarted daemon appends to the same files
# (no second pcap header) and they stay valid.
import os
import signal

import harness
import logfiles
from harness import Daemon, check, check_equal
from logfiles import frame_line


def test_logs_are_whole_after_sigkill_and_the_restarted_daemon_appends_to_them():
    port_in = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        paths = [os.path.join(tmp, name) for name in ("frames.pcap", "frames.log", "frames.jsonl")]
        logged = paths if logfiles.WITH_PCAP else paths[1:]
        cfg = logfiles.can_log_config(port_in, *paths)
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
        logfiles.check_can_logs(*paths, first)

        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"".join(frame_line(first + i) + b"\n" for i in range(second)))
            sender.close()
            harness.wait_until(lambda: harness.count_lines(paths[1]) == first + second, what="the candump log")
            check_equal(daemon.stop(), 0, "exit code")
        logfiles.check_can_logs(*paths, first + second)
        check_equal(logfiles.candump_frames(paths[1]), [frame_line(i) for i in range(first + second)],
                    "the frames in the candump log, both runs in order")


if __name__ == "__main__":
    harness.main()
