# SPDX-License-Identifier: MIT
# overflow: block — a target that does not read stops the source (TCP back-pressure) instead of
# the daemon buffering: its memory stays bounded, and once the target reads, every byte arrives
# intact and in order with nothing dropped.
import hashlib
import random
import select

import harness
from harness import Daemon, Reader, Sender, check, check_equal

TOTAL = 64 << 20
# Growth of VmRSS over its value before the traffic: the queue holds 1 MiB, the socket buffers a few
# more; a sanitizer build starts far higher (shadow memory), so the bound is on the growth.
RSS_GROWTH_LIMIT_KIB = 32 << 10
CHUNK = 256 << 10
STALL = 3.0  # seconds without the socket taking a byte: the sender is blocked


def test_sender_blocks_while_target_does_not_read_and_memory_stays_bounded():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    data = random.Random(64).randbytes(TOTAL)
    cfg = harness.forward_config(port_in, port_out, route="queue: {max_messages: 64, max_bytes: 1MiB, overflow: block}")
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        since = daemon.mark()
        target = harness.tcp_connect(port_out)
        daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{target.getsockname()[1]} connected", since=since)
        baseline = daemon.vm_rss_kib()

        sender = harness.tcp_connect(port_in)
        sender.setblocking(False)
        sent = 0
        peak = baseline
        while sent < TOTAL:
            _, writable, _ = select.select([], [sender], [], STALL)
            if not writable:
                break
            try:
                sent += sender.send(data[sent:sent + CHUNK])
            except BlockingIOError:
                continue
            peak = max(peak, daemon.vm_rss_kib())
        check(sent < TOTAL, f"the sender never blocked: the daemon took all {TOTAL} bytes while the target "
                            "read nothing")
        blocked_rss = daemon.vm_rss_kib()
        peak = max(peak, blocked_rss)
        print(f"sender blocked after {sent >> 20} MiB; daemon VmRSS {baseline} KiB at start, {blocked_rss} KiB "
              f"while blocked, {peak} KiB peak")
        check(peak - baseline < RSS_GROWTH_LIMIT_KIB, f"daemon VmRSS grew from {baseline} to {peak} KiB (limit "
                                                      f"+{RSS_GROWTH_LIMIT_KIB} KiB) while the "
                                    f"target read nothing ({sent} bytes sent)")
        counters = daemon.counters()
        check_equal(counters["routes"]["in->out"]["drops"], 0, "route drops while blocked")

        # The target reads now: the rest goes through, all of it, in order.
        hasher = hashlib.sha256()
        reader = Reader(target, keep=False, hasher=hasher)
        reader.start()
        sender.setblocking(True)
        rest = Sender(sender, data[sent:], shutdown_after=True)
        rest.start()
        rest.finish(90)
        reader.wait_count(TOTAL, 90)
        check_equal(hasher.hexdigest(), hashlib.sha256(data).hexdigest(), "sha256 of the bytes at the target")
        peak = max(peak, daemon.vm_rss_kib())
        check(peak - baseline < RSS_GROWTH_LIMIT_KIB, f"daemon VmRSS grew from {baseline} to {peak} KiB (limit "
                                                      f"+{RSS_GROWTH_LIMIT_KIB} KiB)")
        reader.stop()
        sender.close()

        check_equal(daemon.stop(), 0, "exit code")
        counters = daemon.final_counters()
        check_equal(counters["listeners"]["in"]["bytes_in"], TOTAL, "in.bytes_in")
        check_equal(counters["listeners"]["out"]["bytes_out"], TOTAL, "out.bytes_out")
        for kind in ("listeners", "routes"):
            for name, c in counters[kind].items():
                check_equal(c["drops"], 0, f"{kind} {name} drops")


if __name__ == "__main__":
    harness.main()
