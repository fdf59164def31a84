# SPDX-License-Identifier: MIT
# type: can (CAN_RAW) inside the test VM: filters and error frames, interface down/up and
# delete/recreate while traffic flows, candump logs replayed by canplayer, CAN->TCP candump lines,
# a vcan gateway with filter, rewrite and write allowlist, bad input never reaching the bus.
#
#   tests/vm/run-in-vm --rw build -- env SOCKBRIDGED=$PWD/build/src/sockbridged python3 tests/can/run_all.py

import os
import socket
import subprocess
import threading
import time

import canlib
import harness
from canlib import CAN_EFF_FLAG, CAN_ERR_FLAG, CAN_RTR_FLAG, Bus
from harness import Daemon, check, check_equal

A, B = "sbcan0", "sbcan1"  # this file's own interfaces


def test_filters_and_error_frames_reach_tcp_as_candump_lines():
    canlib.require_can()
    canlib.vcan(A)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp:
            cfg = f"""\
listeners:
  bus: {{type: can, interface: {A}, filters: ["100/700", "18DAF110"], error_frames: true}}
  out: {{type: tcp, listen: 127.0.0.1:{port}, format: candump}}
routes:
  - from: bus
    to: out
"""
            with Daemon(cfg, tmp) as daemon:
                client = harness.tcp_connect(port)
                daemon.wait_for_log(r"Listener 'out': client .* connected", what="the client")
                bus = Bus(A)
                bus.send(0x223, b"\x11")                     # not 1xx: filtered out
                bus.send(0x100, b"\xde\xad\xbe\xef")         # 100/700
                bus.send(0x1FF, b"\x01")                     # 100/700
                bus.send(0x18DAF110 | CAN_EFF_FLAG, b"\x02\x03")
                bus.send(0x100 | CAN_EFF_FLAG, b"\x04")      # extended 100: not the standard filter
                bus.send(0x180 | CAN_RTR_FLAG, b"\x00\x00")  # remote frame, length 2
                bus.send(CAN_ERR_FLAG | 0x04, bytes([0, 0x04, 0, 0, 0, 0, 0, 0]))  # controller problem
                bus.send(0x7FF, b"\x05")                     # filtered out
                bus.send(0x1FE, b"\x06")                     # sentinel
                bus.close()
                text = b""
                deadline = time.monotonic() + harness.IO_TIMEOUT
                while text.count(b"\n") < 6 and time.monotonic() < deadline:
                    client.settimeout(max(0.1, deadline - time.monotonic()))
                    try:
                        chunk = client.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    text += chunk
                lines = text.decode().splitlines()
                for line in lines:
                    check(line.startswith("(") and f") {A} " in line, f"not a candump -L line: {line!r}")
                # Error frames come by the error mask, whatever the filters.
                check_equal([line.split(" ", 2)[2] for line in lines],
                            ["100#DEADBEEF", "1FF#01", "18DAF110#0203", "180#R2", "20000004#0004000000000000",
                             "1FE#06"],
                            "frames as candump lines")
                client.close()
    finally:
        canlib.delete(A)


def test_join_requires_every_filter():
    canlib.require_can()
    canlib.vcan(A)
    try:
        with harness.temp_dir() as tmp:
            log = os.path.join(tmp, "can.log")
            cfg = f"""\
listeners:
  bus: {{type: can, interface: {A}, filters: ["100/700", "!1FF"], join: true}}
routes:
  - from: bus
    log: {{path: {log}, format: candump}}
"""
            with Daemon(cfg, tmp) as daemon:
                bus = Bus(A)
                for can_id in (0x100, 0x1FF, 0x123, 0x200):
                    bus.send(can_id, b"\x01")
                bus.close()
                daemon.wait_counter(lambda c: c["listeners"]["bus"]["messages_in"] >= 2)
            with open(log) as f:
                check_equal([line.split(" ", 2)[2] for line in f.read().splitlines()], ["100#01", "123#01"],
                            "frames matching both filters")
    finally:
        canlib.delete(A)


class FlowingSender(threading.Thread):
    """Sends numbered frames (id 0x321, 4-byte big-endian counter) every `interval` s; keeps the
    send time of each frame it sent successfully (sends fail while the interface is away)."""

    def __init__(self, interface, interval=0.002):
        super().__init__(daemon=True)
        self.interface = interface
        self.interval = interval
        self.sent = []  # (number, monotonic time)
        self.stopping = threading.Event()
        self.number = 0

    def run(self):
        bus = None
        while not self.stopping.is_set():
            try:
                if bus is None:
                    bus = Bus(self.interface)
                bus.send(0x321, self.number.to_bytes(4, "big"))
                self.sent.append((self.number, time.monotonic()))
            except OSError:
                if bus is not None:
                    bus.close()
                bus = None
            self.number += 1
            time.sleep(self.interval)
        if bus is not None:
            bus.close()


def test_interface_down_up_and_delete_recreate_while_traffic_flows():
    canlib.require_can()
    canlib.vcan(A)
    try:
        with harness.temp_dir() as tmp:
            log = os.path.join(tmp, "can.log")
            cfg = f"""\
listeners:
  bus: {{type: can, interface: {A}}}
routes:
  - from: bus
    log: {{path: {log}, format: candump}}
"""
            with Daemon(cfg, tmp) as daemon:
                sender = FlowingSender(A)
                sender.start()
                open_windows = [(time.monotonic(), None)]
                time.sleep(0.5)
                for down, up, gone_log in (
                        (["link", "set", A, "down"], ["link", "set", "up", A], "went down"),
                        (["link", "del", A], None, "was removed")):
                    mark = daemon.mark()
                    open_windows[-1] = (open_windows[-1][0], time.monotonic())
                    canlib.ip(*down)
                    daemon.wait_for_log(rf"Listener 'bus': interface {A} {gone_log}; waiting for it", since=mark)
                    time.sleep(0.3)
                    if up:
                        canlib.ip(*up)
                    else:
                        canlib.vcan(A)
                    daemon.wait_for_log(rf"Listener 'bus': interface {A} is up; resuming", since=mark)
                    open_windows.append((time.monotonic(), None))
                    time.sleep(0.5)
                open_windows[-1] = (open_windows[-1][0], time.monotonic())
                sender.stopping.set()
                sender.join(10)
                time.sleep(0.3)
            with open(log) as f:
                numbers = [int(line.split("#")[1], 16) for line in f.read().splitlines()]
            check(len(numbers) > 100, f"only {len(numbers)} frames logged")
            check(all(a < b for a, b in zip(numbers, numbers[1:])), "frames out of order or repeated")
            got = set(numbers)
            must = [n for n, t in sender.sent if any(start <= t < end for start, end in open_windows)]
            missing = [n for n in must if n not in got]
            check(not missing, f"{len(missing)} frames sent while the listener was open were not logged: "
                               f"{missing[:10]}")
            print(f"    {len(sender.sent)} frames sent, {len(numbers)} logged, {len(must)} while open: all there")
    finally:
        canlib.delete(A)


def test_candump_log_replays_with_canplayer():
    canlib.require_can("candump", "canplayer")
    canlib.vcan(A, fd=True)
    canlib.vcan(B, fd=True)
    frames = ["123#DEADBEEF", "1ABCDEF0#0102", "456##5112233445566778899AABBCC", "7DF#R", "00000001#",
              "321#1122334455667788", "7FF##4" + "A5" * 64]
    try:
        with harness.temp_dir() as tmp:
            log = os.path.join(tmp, "can.log")
            cfg = f"""\
listeners:
  bus: {{type: can, interface: {A}, fd: true}}
routes:
  - from: bus
    log: {{path: {log}, format: candump}}
"""
            reference = os.path.join(tmp, "candump.log")
            with Daemon(cfg, tmp) as daemon:
                dump = canlib.candump_start(A, len(frames), reference)
                for frame in frames:
                    subprocess.run(["cansend", A, frame], check=True)
                canlib.candump_wait(dump, reference)
                daemon.wait_counter(lambda c: c["listeners"]["bus"]["messages_in"] >= len(frames))
            with open(log) as f:
                ours = f.read().splitlines()
            with open(reference) as f:
                theirs = f.read().splitlines()
            # The same kernel timestamps, the same text: byte for byte what candump -L wrote.
            check_equal(ours, theirs, "sockbridge's candump log vs candump -L")
            replay = os.path.join(tmp, "replay.log")
            dump = canlib.candump_start(B, len(frames), replay)
            subprocess.run(["canplayer", "-I", log, f"{B}={A}"], check=True, timeout=30)
            check_equal(canlib.frames_of(canlib.candump_wait(dump, replay)), [f"{B} {f}" for f in frames],
                        "frames canplayer replayed from sockbridge's log")
    finally:
        canlib.delete(A, B)


def test_gateway_with_filter_rewrite_and_write_allowlist():
    canlib.require_can("candump")
    canlib.vcan(A)
    canlib.vcan(B)
    try:
        with harness.temp_dir() as tmp:
            cfg = f"""\
listeners:
  in: {{type: can, interface: {A}}}
  out: {{type: can, interface: {B}}}
routes:
  - name: gw
    from: in
    to: out
    write: true
    filter_ids: [0x100-0x1FF, "!0x150"]
    rewrite: {{from: 0x100-0x10F, to: 0x200}}
    allow_ids: [0x200-0x20F, 0x180]
"""
            with Daemon(cfg, tmp, args=["--log-level", "debug"]) as daemon:
                reference = os.path.join(tmp, "out.log")
                dump = canlib.candump_start(B, 3, reference)
                bus = Bus(A)
                bus.send(0x105, b"\x01")   # rewritten to 0x205
                bus.send(0x150, b"\x02")   # excluded by filter_ids
                bus.send(0x300, b"\x03")   # not in filter_ids
                bus.send(0x1A0, b"\x04")   # passes the filter, not the allowlist: dropped, counted
                bus.send(0x180, b"\x05")   # passes as it is
                bus.send(0x10F, b"\x06")   # rewritten to 0x20F
                bus.close()
                check_equal(canlib.frames_of(canlib.candump_wait(dump, reference)),
                            [f"{B} 205#01", f"{B} 180#05", f"{B} 20F#06"], "frames on the far bus")
                counters = daemon.wait_counter(lambda c: c["routes"]["gw"]["drops"] >= 1)
                check_equal(counters["routes"]["gw"]["drops"], 1, "gw drops (not in allow_ids)")
                check_equal(counters["listeners"]["out"]["messages_out"], 3, "frames written")
                daemon.wait_for_log(r"Route 'gw': dropping a frame: id 0x1A0 is not in allow_ids")
    finally:
        canlib.delete(A, B)


def test_bad_input_is_rejected_counted_and_never_reaches_the_bus():
    canlib.require_can()
    canlib.vcan(A)
    port = harness.free_udp_port()
    try:
        with harness.temp_dir() as tmp:
            cfg = f"""\
listeners:
  udp: {{type: udp, bind: 127.0.0.1:{port}, format: candump}}
  raw: {{type: udp, bind: 127.0.0.1:{port + 1 if port < 65535 else port - 1}}}
  bus: {{type: can, interface: {A}}}
routes:
  - {{from: udp, to: bus, write: true}}
  - {{from: raw, to: bus, write: true}}
"""
            watcher = Bus(A, timeout=harness.IO_TIMEOUT)
            with Daemon(cfg, tmp) as daemon:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    for line in (b"123#112233445566778899\n", b"800#01\n", b"123#ZZ\n", b"123#0102\n"):
                        s.sendto(line, ("127.0.0.1", port))
                    raw_port = port + 1 if port < 65535 else port - 1
                    s.sendto(b"\x00\x00\x01\x23\x09\x00\x00\x00" + b"\x00" * 9, ("127.0.0.1", raw_port))
                    s.sendto(b"(1.000000) x 7FF#FF\n", ("127.0.0.1", port))
                check_equal(watcher.recv_n(2), [(0x123, b"\x01\x02", None), (0x7FF, b"\xff", None)], "frames on the bus")
                watcher.assert_nothing()
                counters = daemon.wait_counter(lambda c: c["listeners"]["udp"]["errors"] >= 3 and
                                               c["listeners"]["bus"]["errors"] >= 1)
                check_equal(counters["listeners"]["udp"]["errors"], 3, "bad lines")
                check_equal(counters["listeners"]["bus"]["errors"], 1, "bad frames refused by the can listener")
                check_equal(counters["listeners"]["bus"]["messages_out"], 2, "frames written")
                daemon.wait_for_log(r"bad candump line \"123#112233445566778899\": more than 8 data bytes")
            watcher.close()
    finally:
        canlib.delete(A)


def test_missing_interface_fails_or_is_waited_for_and_fd_needs_mtu_72():
    canlib.require_can()
    canlib.delete(A)
    with harness.temp_dir() as tmp:
        cfg = f"listeners:\n  bus: {{type: can, interface: {A}}}\n"
        daemon = Daemon(cfg, tmp, expect_running=False)
        daemon.start()
        check_equal(daemon.wait_exit(), 1, "exit code without the interface")
        check(daemon.log_matches(rf"Listener 'bus': no network interface '{A}' \(create it, or set 'wait: true'"),
              f"no clear error: {daemon.stderr}")

        canlib.vcan(A)  # mtu 16
        cfg = f"listeners:\n  bus: {{type: can, interface: {A}, fd: true}}\n"
        daemon = Daemon(cfg, tmp, expect_running=False, name="fd.yaml")
        daemon.start()
        check_equal(daemon.wait_exit(), 1, "exit code for fd on a classic interface")
        check(daemon.log_matches(rf"interface {A} has MTU 16, not 72: CAN FD needs 'ip link set {A} mtu 72'"),
              f"no clear error: {daemon.stderr}")
        canlib.delete(A)

        log = os.path.join(tmp, "can.log")
        cfg = f"""\
listeners:
  bus: {{type: can, interface: {A}, wait: true}}
routes:
  - from: bus
    log: {{path: {log}, format: candump}}
"""
        try:
            with Daemon(cfg, tmp, name="wait.yaml") as daemon:
                daemon.wait_for_log(rf"interface {A} does not exist; waiting for it")
                mark = daemon.mark()
                canlib.vcan(A)
                daemon.wait_for_log(rf"Listener 'bus': interface {A} is up; resuming", since=mark)
                bus = Bus(A)
                bus.send(0x42, b"\x42")
                bus.close()
                daemon.wait_counter(lambda c: c["listeners"]["bus"]["messages_in"] >= 1)
            with open(log) as f:
                check_equal([line.split(" ", 1)[1] for line in f.read().splitlines()], [f"{A} 042#42"], "log")
        finally:
            canlib.delete(A)


if __name__ == "__main__":
    harness.main()
