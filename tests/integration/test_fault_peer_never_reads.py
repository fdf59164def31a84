# SPDX-License-Identifier: MIT
# Fault injection: a TCP client that never reads, on a route with the default overflow policy
# (drop-newest). The daemon keeps reading the source (it does not stall the sender), its memory
# stays bounded, what it cannot deliver is counted as drops, and once the client reads, every
# message is accounted for: delivered or counted.
import random

import harness
from harness import Daemon, Reader, check, check_equal

TOTAL = 48 << 20
# Generous: the queue and the socket buffers hold a few MiB. On the growth, not the total, since
# a sanitizer build starts far higher.
RSS_GROWTH_LIMIT_KIB = 32 << 10


def test_a_client_that_never_reads_costs_bounded_memory_and_counted_drops():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    data = random.Random(48).randbytes(TOTAL)
    cfg = harness.forward_config(port_in, port_out, route="queue: {max_bytes: 1MiB}")
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        since = daemon.mark()
        stalled = harness.tcp_connect(port_out, rcvbuf=4096)
        daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{stalled.getsockname()[1]} connected",
                            since=since)
        baseline = daemon.vm_rss_kib()

        sender = harness.tcp_connect(port_in)
        peak = baseline
        for start in range(0, TOTAL, 1 << 20):
            sender.sendall(data[start:start + (1 << 20)])  # bounded by the socket timeout
            peak = max(peak, daemon.vm_rss_kib())
        counters = daemon.wait_counter(lambda c: c["listeners"]["in"]["bytes_in"] == TOTAL,
                                       what="the daemon to read everything sent")
        drops = counters["routes"]["in->out"]["drops"]
        print(f"{TOTAL >> 20} MiB sent to a client that reads nothing: VmRSS {baseline} KiB at start, "
              f"{peak} KiB peak; {drops} messages dropped")
        check(drops > 0, "no drops counted although the client read nothing")
        check(peak - baseline < RSS_GROWTH_LIMIT_KIB,
              f"daemon VmRSS grew from {baseline} to {peak} KiB (limit +{RSS_GROWTH_LIMIT_KIB} KiB)")

        # The client reads now: everything not dropped arrives, and the counters add up.
        reader = Reader(stalled, keep=False)
        reader.start()
        sender.close()
        route = daemon.wait_counter(
            lambda c: c["routes"]["in->out"]["messages_in"] == c["routes"]["in->out"]["messages_out"]
            + c["routes"]["in->out"]["drops"], what="the route queue to empty")["routes"]["in->out"]
        out = daemon.counters()["listeners"]["out"]
        reader.wait_count(out["bytes_out"])
        check_equal(route["messages_out"] + route["drops"], route["messages_in"], "route: out + drops = in")
        reader.stop()
        check(daemon.vm_rss_kib() - baseline < RSS_GROWTH_LIMIT_KIB, "VmRSS over the limit after the client read")
        check_equal(daemon.stop(), 0, "exit code")


if __name__ == "__main__":
    harness.main()
