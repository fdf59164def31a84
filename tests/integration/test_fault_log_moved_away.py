# SPDX-License-Identifier: MIT
# Fault injection: a log file moved away (an outside logrotate) or deleted under the running
# daemon. The daemon notices at its next write, says so, and writes to a new file at the
# configured path; the moved file keeps what was written before, whole.
import os

import harness
from harness import Daemon, check, check_equal


def test_a_log_moved_away_or_deleted_is_created_again_at_its_path():
    port_in = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        log_path = os.path.join(tmp, "traffic.jsonl")
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
routes:
  - {{from: in, log: {{path: {log_path}, format: jsonl}}}}
"""
        with Daemon(cfg, tmp) as daemon:
            sender = harness.tcp_connect(port_in)

            def send_and_wait(lines):
                sender.sendall(b"".join(line + b"\n" for line in lines))
                return harness.wait_until(
                    lambda: os.path.exists(log_path) and harness.count_lines(log_path) == len(lines)
                    and harness.read_jsonl(log_path), what=f"{len(lines)} records in {log_path}")

            first = [b"first %d" % i for i in range(10)]
            send_and_wait(first)

            moved = log_path + ".moved"
            since = daemon.mark()
            os.rename(log_path, moved)
            second = [b"second %d" % i for i in range(10)]
            records = send_and_wait(second)
            daemon.wait_for_log(rf"Log '{log_path}': the file was deleted or moved away; writing to a new one",
                                since=since)
            check_equal([r["text"].encode() for r in records], second, "records in the new file")
            check_equal([r["text"].encode() for r in harness.read_jsonl(moved)], first, "records in the moved file")

            since = daemon.mark()
            os.unlink(log_path)
            third = [b"third %d" % i for i in range(10)]
            records = send_and_wait(third)
            daemon.wait_for_log(r"the file was deleted or moved away", since=since)
            check_equal([r["text"].encode() for r in records], third, "records after the file was deleted")

            sender.close()
            check_equal(daemon.stop(), 0, "exit code")
            log = daemon.final_counters()["logs"][log_path]
            check_equal(log["messages_out"], 30, "log messages_out")
            check_equal(log["errors"], 0, "log errors")


if __name__ == "__main__":
    harness.main()
