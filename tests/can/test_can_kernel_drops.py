# SPDX-License-Identifier: MIT
# type: can, receive buffer overflow inside the test VM: while the daemon is stopped (SIGSTOP) a
# burst overflows its small receive_buffer; the kernel's drops are counted in kernel_drops after
# the next pass of reads (no later frame is needed to report them), and every frame is either
# logged or counted: kernel_drops = frames sent - frames received.
#
#   tests/vm/run-in-vm --rw build -- env SOCKBRIDGED=$PWD/build/src/sockbridged python3 tests/can/run_all.py test_can_kernel_drops.py

import os
import signal

import canlib
import harness
from canlib import Bus
from harness import Daemon, check, check_equal

BUS = "sbcandrop0"  # this file's own interface
FRAMES = 400


def frame_data(i):
    return i.to_bytes(2, "big")


def test_a_burst_that_overflows_the_receive_buffer_is_counted_in_kernel_drops():
    canlib.require_can()
    canlib.vcan(BUS)
    try:
        with canlib.deep_backlog(), harness.temp_dir() as tmp:
            log = os.path.join(tmp, "frames.log")
            cfg = f"""\
listeners:
  bus: {{type: can, interface: {BUS}, receive_buffer: 4KiB}}
routes:
  - {{from: bus, log: {{path: {log}, format: candump}}}}
"""
            with Daemon(cfg, tmp) as daemon:
                witness = Bus(BUS)  # a 4 MiB buffer: sees every frame the bus carried
                sender = Bus(BUS)
                os.kill(daemon.pid, signal.SIGSTOP)
                try:
                    for i in range(FRAMES):
                        sender.send(0x123, frame_data(i))
                finally:
                    os.kill(daemon.pid, signal.SIGCONT)
                seen = [data for _, data, _ in witness.recv_n(FRAMES)]
                check_equal(seen, [frame_data(i) for i in range(FRAMES)], "the frames on the bus (the witness)")
                sender.close()
                witness.close()
                # No frame follows the burst: the drops must be counted by the pass that read it.
                counters = daemon.wait_counter(
                    lambda c: c["listeners"]["bus"]["messages_in"] + c["listeners"]["bus"]["kernel_drops"] == FRAMES,
                    what=f"messages_in + kernel_drops = {FRAMES}")
                daemon.wait_for_log(r"Listener 'bus': the kernel dropped \d+ frames \(receive buffer full",
                                    what="the drop warning")
                check_equal(daemon.stop(), 0, "exit code")
            bus = daemon.final_counters()["listeners"]["bus"]
            received = [bytes.fromhex(line.split("#")[1]) for line in open(log).read().splitlines()]
            print(f"{FRAMES} sent, {len(received)} received, {bus['kernel_drops']} counted in kernel_drops",
                  flush=True)
            check(0 < len(received) < FRAMES, f"{len(received)} of {FRAMES} frames received: the buffer did not "
                                              "overflow (or held nothing)")
            check_equal(bus["kernel_drops"], FRAMES - len(received), "kernel_drops = frames sent - frames received")
            check_equal(bus["messages_in"], len(received), "messages_in = frames in the log")
            check_equal(bus["lost"], 0, "lost (no peer sequence numbers on a CAN bus)")
            check_equal(received, [frame_data(i) for i in range(len(received))],
                        "the frames received are the first of the burst, in order")
    finally:
        canlib.delete(BUS)


if __name__ == "__main__":
    harness.main()
