# SPDX-License-Identifier: MIT
# Fault injection: the daemon runs out of descriptors (RLIMIT_NOFILE lowered on the running
# process). Accepting pauses without a busy loop — the daemon's CPU time stays low while a client
# waits in the backlog — is logged once, and resumes when a descriptor is free again.
import os
import resource
import time

import harness
from harness import Daemon, check, check_equal

SPARE = 3  # descriptors left for clients
WINDOW = 2.0  # seconds over which the daemon's CPU time is measured while it cannot accept
CPU_LIMIT = 0.25  # of the window: a busy loop takes all of it


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_accepting_pauses_without_spinning_at_the_descriptor_limit_and_resumes():
    port_in = harness.free_tcp_port()
    receiver = harness.udp_socket()
    # No control socket: nobody else's client takes a descriptor or a log line.
    cfg = harness.forward_config(port_in, receiver, in_format="lines", tail="daemon:\n  control: none\n")
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        in_use = len(os.listdir(f"/proc/{daemon.pid}/fd"))
        limit = in_use + SPARE
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (limit, limit))

        # accept() fails as soon as the last descriptor is taken, with or without a client waiting:
        # the pause may start right after the last client that fits.
        before_pause = daemon.mark()
        clients = []
        for i in range(SPARE):
            since = daemon.mark()
            clients.append(harness.tcp_connect(port_in))
            daemon.wait_for_log(rf"client 127\.0\.0\.1:{clients[-1].getsockname()[1]} connected", since=since)
        since = daemon.mark()
        waiting = harness.tcp_connect(port_in)  # completes in the kernel's backlog
        waiting.sendall(b"from the waiting client\n")
        daemon.wait_for_log(r"Listener 'in': failed to accept a client: Too many open files; accepting paused",
                            since=before_pause)

        start = cpu_seconds(daemon.pid)
        time.sleep(WINDOW)  # the measurement window, not a wait for an event
        used = cpu_seconds(daemon.pid) - start
        print(f"descriptor limit {limit}: daemon CPU time {used:.2f}s over {WINDOW}s while accepting is paused")
        check(used < CPU_LIMIT * WINDOW, f"the daemon used {used:.2f}s of CPU in {WINDOW}s: a busy loop")
        check_equal(len(daemon.log_matches(r"failed to accept a client")), 1, "accept failures logged")

        for c in clients:
            c.sendall(b"from an accepted client\n")
        check_equal(sorted(harness.recv_datagrams(receiver, SPARE)), [b"from an accepted client"] * SPARE,
                    "the accepted clients are served meanwhile")

        since = daemon.mark()
        clients.pop().close()
        daemon.wait_for_log(r"Listener 'in': accepting clients again", since=since)
        daemon.wait_for_log(rf"client 127\.0\.0\.1:{waiting.getsockname()[1]} connected", since=since)
        check_equal(harness.recv_datagram(receiver), b"from the waiting client", "the waiting client's line")
        # Back at the limit, the next accept() fails again: a new pause, logged and counted once more.
        check_equal(daemon.counters()["listeners"]["in"]["errors"], len(daemon.log_matches(r"Listener 'in': .*accepting paused")),
                    "in.errors (one per pause)")

        for c in clients + [waiting]:
            c.close()
        check_equal(daemon.stop(), 0, "exit code")


if __name__ == "__main__":
    harness.main()
