# SPDX-License-Identifier: MIT
# Two daemons bridge one vcan to another over UDP in the cannelloni format: every frame, in order.
#
# Runs inside the test VM (tests/vm/README.md), e.g. through tests/can/run_all.py, or alone:
#   tests/vm/run-in-vm env SOCKBRIDGED=$PWD/build/src/sockbridged python3 tests/can/test_cannelloni_bridge.py
# Skips (77) where there is no SocketCAN or no can-utils.

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import harness  # noqa: E402
from harness import Daemon, Skip, check, check_equal  # noqa: E402

if not harness.BINARY:
    built = os.path.join(harness.SOURCE_ROOT, "build", "src", "sockbridged")
    if os.path.exists(built):
        harness.BINARY = built

FRAMES = 20000
# Interfaces of this test's own, so it can run beside others in one VM boot.
IN_IF, OUT_IF = "sbcnl0", "sbcnl1"
CANDUMP_LINE = re.compile(r"^\(\d+\.\d+\) (\S+) ([0-9A-F]+)#([0-9A-F]*)$")


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_vcans():
    if not os.path.isdir("/proc/net/can"):
        raise Skip("no SocketCAN in this kernel: run through tests/vm/run-in-vm")
    for tool in ("ip", "candump", "cangen"):
        if not shutil.which(tool):
            raise Skip(f"'{tool}' is not installed (can-utils, iproute2)")
    for name in (IN_IF, OUT_IF):
        subprocess.run(["ip", "link", "del", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run("ip", "link", "add", "dev", name, "type", "vcan")
        except subprocess.CalledProcessError as e:
            raise Skip(f"cannot create {name} (needs root and the vcan module): {e.stderr.decode().strip()}")
        # Room for bursts: the writing daemon retries on ENOBUFS, but needs not to.
        run("ip", "link", "set", name, "txqueuelen", "10000")
        run("ip", "link", "set", "up", name)


def delete_vcans():
    for name in (IN_IF, OUT_IF):
        subprocess.run(["ip", "link", "del", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_candump(interface, path):
    """candump -L of FRAMES frames from `interface`, returned once its socket is registered."""
    out = open(path, "w")
    # A big receive buffer (-r, forced as root): the witness must not drop what the bridge delivers.
    proc = subprocess.Popen(["candump", "-L", "-r", str(16 << 20), "-n", str(FRAMES), interface], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()

    def registered():
        with open("/proc/net/can/rcvlist_all") as f:
            return any(re.search(rf"\b{interface}\b", line) and "no entry" not in line for line in f)
    harness.wait_until(registered, what=f"candump's socket on {interface}")
    return proc


def frames_of(path, interface):
    frames = []
    with open(path) as f:
        for line in f:
            match = CANDUMP_LINE.match(line.strip())
            check(match is not None, f"{path}: not a candump -L line: {line!r}")
            check_equal(match.group(1), interface, f"{path}: interface")
            frames.append((match.group(2), match.group(3)))
    return frames


def test_vcan_to_cannelloni_udp_to_vcan_keeps_every_frame_in_order():
    """10,000 frames/s asked (a 0.1 ms gap); the emulated VM's cangen manages less."""
    bridge(["-g", "0.1"], every_frame=True)


def test_flood_keeps_order_and_counts_what_udp_lost():
    """As fast as cangen writes (~28,000 frames/s in the VM): the receiving UDP socket's buffer
    may overflow. What arrives must be in order, and every missing frame must be in a datagram
    the receiver counted as lost from the sequence numbers: nothing goes missing silently."""
    bridge(["-g", "0", "-p", "1000"], every_frame=False)


def sequence_number(frame):
    # cangen -I i -D i: the id counts modulo 0x800 and the 8 data bytes hold the frame's number,
    # little-endian, so a frame says where it was in the stream without any witness.
    return int.from_bytes(bytes.fromhex(frame[1]), "little")


def bridge(pace, every_frame):
    make_vcans()
    try:
        with harness.temp_dir() as tmp:
            port = harness.free_udp_port()
            sender_cfg = f"""\
listeners:
  bus: {{type: can, interface: {IN_IF}}}
  tunnel: {{type: udp, peer: 127.0.0.1:{port}, format: cannelloni}}
routes:
  - from: bus
    to: tunnel
    queue: {{overflow: block}}
"""
            receiver_cfg = f"""\
listeners:
  tunnel: {{type: udp, bind: 127.0.0.1:{port}, format: cannelloni}}
  bus: {{type: can, interface: {OUT_IF}}}
routes:
  - from: tunnel
    to: bus
    write: true
    queue: {{max_messages: 100000, overflow: drop-newest}}
"""
            with Daemon(receiver_cfg, tmp, name="receiver.yaml") as receiver, \
                    Daemon(sender_cfg, tmp, name="sender.yaml") as sender:
                sent_log = os.path.join(tmp, "sent.log")
                got_log = os.path.join(tmp, "received.log")
                sent_dump = start_candump(IN_IF, sent_log)
                got_dump = start_candump(OUT_IF, got_log)
                started = time.monotonic()
                # Incrementing ids and data, 8 bytes.
                subprocess.run(["cangen", IN_IF, *pace, "-n", str(FRAMES), "-I", "i", "-L", "8", "-D", "i"],
                               check=True, timeout=600)
                took = time.monotonic() - started
                print(f"cangen sent {FRAMES} frames in {took:.1f}s ({FRAMES / took:.0f} frames/s)", flush=True)
                # Each candump exits after FRAMES frames; one that is still waiting missed some
                # (in a flood, expectedly: wait less for it).
                for proc in (sent_dump, got_dump):
                    try:
                        proc.wait(timeout=120 if every_frame or proc is sent_dump else 20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()

                sent = frames_of(sent_log, IN_IF)
                received = frames_of(got_log, OUT_IF)
                if not every_frame:
                    # In a flood even the witness candumps may miss frames, so the frames' own
                    # numbers tell order and gaps, and the daemons' counters must explain every gap.
                    numbers = [sequence_number(frame) for frame in received]
                    check(all(a < b for a, b in zip(numbers, numbers[1:])), "frames arrived out of order")
                    check_equal(sender.stop(), 0, "sender exit code")
                    check_equal(receiver.stop(), 0, "receiver exit code")
                    sender_counters = sender.final_counters()["listeners"]
                    read_lost = sender_counters["bus"]["lost"]  # dropped by the kernel before we read
                    read = sender_counters["bus"]["messages_in"]
                    # The kernel reports its receive-queue drops (SO_RXQ_OVFL) with the next frame it
                    # queues, so drops at the very end of the flood may go unreported: at most equal.
                    check(read + read_lost <= FRAMES, f"{read} read + {read_lost} dropped <= {FRAMES} sent")
                    check_equal(sender_counters["tunnel"]["messages_out"], read,
                                "every frame the sender read was packed into a datagram")
                    counters = receiver.final_counters()
                    tunnel, bus = counters["listeners"]["tunnel"], counters["listeners"]["bus"]
                    per_datagram = (1472 - 5) // 13  # 8-byte classic frames in a full datagram
                    undecoded = read - tunnel["messages_in"]
                    dropped = sum(route["drops"] for route in counters["routes"].values())
                    print(f"{read_lost} frames dropped by the kernel before the sender read them; "
                          f"{undecoded} not decoded at the far end, {tunnel['lost']} datagrams counted lost; "
                          f"{bus['messages_out']} written, {dropped} dropped; the witnesses saw {len(sent)} "
                          f"sent and {len(received)} received", flush=True)
                    # Every frame the sender packed was decoded or sat in a datagram counted lost...
                    check(0 <= undecoded <= tunnel["lost"] * per_datagram,
                          f"{undecoded} frames not decoded but only {tunnel['lost']} datagrams counted lost")
                    # ...and every decoded frame was written to the bus or counted as dropped.
                    check_equal(bus["messages_out"] + dropped, tunnel["messages_in"], "frames written + dropped")
                    return
                check_equal(len(sent), FRAMES, "frames cangen put on the bus")
                if received != sent:
                    first = next((i for i, (a, b) in enumerate(zip(sent, received)) if a != b),
                                 min(len(sent), len(received)))
                    raise harness.TestFailure(
                        f"{len(received)} of {len(sent)} frames arrived; the first difference is at frame "
                        f"{first}: sent {sent[first:first + 3]}, received {received[first:first + 3]}")

                check_equal(sender.stop(), 0, "sender exit code")
                check_equal(receiver.stop(), 0, "receiver exit code")
                out = sender.final_counters()["listeners"]["tunnel"]
                check_equal(out["messages_out"], FRAMES, "frames the sender packed into datagrams")
                check_equal(out["errors"], 0, "sender tunnel errors")
                counters = receiver.final_counters()
                tunnel = counters["listeners"]["tunnel"]
                check_equal(tunnel["messages_in"], FRAMES, "frames the receiver decoded")
                check_equal(tunnel["lost"], 0, "datagrams lost (sequence gaps)")
                check_equal(tunnel["errors"], 0, "receiver tunnel errors")
                for name, route in counters["routes"].items():
                    check_equal(route["drops"], 0, f"route {name} drops")
    finally:
        delete_vcans()


if __name__ == "__main__":
    harness.main()
