# SPDX-License-Identifier: MIT
# format: socketcand inside the test VM: a raw socket client goes through "< hi >", "< open >",
# "< rawmode >", receives cansend's frames as "< frame ... >" lines, sends "< send ... >" frames
# that candump sees, gets "< error ... >" for bad commands and keeps its session; python-can's
# socketcand interface sends and receives unchanged.
#
#   tests/vm/run-in-vm --rw build -- env SOCKBRIDGED=$PWD/build/src/sockbridged python3 tests/can/run_all.py test_socketcand.py

import os
import re
import socket
import subprocess
import time

import canlib
import harness
from harness import Daemon, Skip, check, check_equal

A, B = "sbsc0", "sbsc1"  # this file's own interfaces


def config(port, fd=False, extra=""):
    return f"""\
listeners:
  bus0: {{type: can, interface: {A}}}
  bus1: {{type: can, interface: {B}}}
  sc: {{type: tcp, listen: 127.0.0.1:{port}, format: socketcand{", socketcand_fd: true" if fd else ""}{extra}}}
routes:
  - from: [bus0, bus1]
    to: sc
  - from: sc
    to: [bus0, bus1]
    write: true
"""


class Client:
    """A socketcand client on a plain socket: each recv() is checked as the server wrote it."""

    def __init__(self, port):
        self.sock = harness.tcp_connect(port)
        self.buffer = b""

    def send(self, text):
        self.sock.sendall(text.encode())

    def recv_once(self):
        self.sock.settimeout(harness.IO_TIMEOUT)
        return self.sock.recv(4096).decode()

    def element(self):
        """The next "< ... >" element, whatever the reads."""
        deadline = time.monotonic() + harness.IO_TIMEOUT
        while b">" not in self.buffer:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.sock.recv(4096)
            if not chunk:
                raise harness.TestFailure(f"connection closed; had {self.buffer!r}")
            self.buffer += chunk
        end = self.buffer.index(b">") + 1
        element, self.buffer = self.buffer[:end].decode().strip(), self.buffer[end:]
        return element

    def close(self):
        self.sock.close()


def test_raw_client_receives_sends_and_survives_errors():
    canlib.require_can("candump", "cansend")
    canlib.vcan(A)
    canlib.vcan(B)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp:
            with Daemon(config(port), tmp) as daemon:
                c = Client(port)
                check_equal(c.recv_once(), "< hi >", "greeting, a read of its own")
                c.send("< list >")
                check_equal(c.element(), f"< list {A} {B} >", "list")
                c.send("< open nosuch >")
                check_equal(c.element(), "< error could not open bus >", "unknown bus")
                c.send(f"< open {A} >")
                check_equal(c.recv_once(), "< ok >", "open")
                # Before rawmode no frames come.
                subprocess.run(["cansend", A, "321#01"], check=True, timeout=30)
                c.send("< rawmode >")
                check_equal(c.recv_once(), "< ok >", "rawmode")
                time.sleep(0.2)
                subprocess.run(["cansend", B, "222#02"], check=True, timeout=30)  # the other bus: not ours
                subprocess.run(["cansend", A, "123#DEADBEEF"], check=True, timeout=30)
                subprocess.run(["cansend", A, "18DAF110#0102"], check=True, timeout=30)
                subprocess.run(["cansend", A, "7FF#"], check=True, timeout=30)
                subprocess.run(["cansend", A, "100#R3"], check=True, timeout=30)
                got = [c.element() for _ in range(4)]
                pattern = r"< (frame|rtr) ([0-9A-F]+) (\d{10}\.\d{6}) (.*) >"
                for line in got:
                    check(re.fullmatch(pattern, line), f"not a socketcand frame line: {line!r}")
                    stamp = float(re.fullmatch(pattern, line).group(3))
                    check(abs(stamp - time.time()) < 60, f"timestamp {stamp} is not now")
                check_equal([re.sub(r" \d{10}\.\d{6} ", " T ", line) for line in got],
                            ["< frame 123 T DEADBEEF >", "< frame 18DAF110 T 0102 >", "< frame 7FF T  >",
                             "< rtr 100 T 3 >"], "frames")

                # Malformed commands: an error each, the session goes on.
                c.send("< send 123 2 01 >")
                check_equal(c.element(), "< error length 2 but 1 data bytes >", "bad send")
                c.send("< bogus >")
                check_equal(c.element(), "< error unknown command >", "unknown command")
                c.send("< isotpmode >")
                check_equal(c.element(), "< error isotpmode not supported >", "isotpmode")
                c.send("< echo >")
                check_equal(c.element(), "< echo >", "echo")

                out = os.path.join(tmp, "candump.log")
                other_bus = canlib.Bus(B)
                dump = canlib.candump_start(A, 3, out)
                c.send("< send 123 4 de ad be ef >< send 1AAAAAAA 2 1 F1 >")
                c.send("< sendrtr 456 2 >")
                lines = canlib.candump_wait(dump, out)
                check_equal(canlib.frames_of(lines), [f"{A} 123#DEADBEEF", f"{A} 1AAAAAAA#01F1", f"{A} 456#R2"],
                            "frames the client sent")
                # Routed to both buses, but sent by a session that opened A: only A has them.
                other_bus.assert_nothing(0.5)
                other_bus.close()
                subprocess.run(["cansend", A, "124#0A"], check=True, timeout=30)
                check_equal(re.sub(r" \d{10}\.\d{6} ", " T ", c.element()), "< frame 124 T 0A >", "still receiving")
                c.close()
                daemon.wait_counter(lambda c: c["listeners"]["bus0"]["messages_out"] >= 3)
    finally:
        canlib.delete(A, B)


def test_python_can_socketcand_interface():
    canlib.require_can("candump", "cansend")
    try:
        import can
    except ImportError:
        raise Skip("python3-can is not installed")
    canlib.vcan(A)
    canlib.vcan(B)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp:
            with Daemon(config(port), tmp) as daemon:
                bus = can.Bus(interface="socketcand", host="127.0.0.1", port=port, channel=A)
                try:
                    daemon.wait_for_log(r"Listener 'sc': client .* connected", what="the client")
                    time.sleep(0.2)
                    subprocess.run(["cansend", A, "123#11223344"], check=True, timeout=30)
                    msg = None
                    deadline = time.monotonic() + harness.IO_TIMEOUT
                    while msg is None and time.monotonic() < deadline:
                        msg = bus.recv(timeout=1.0)
                    check(msg is not None, "python-can received no frame")
                    check_equal((msg.arbitration_id, bytes(msg.data)), (0x123, b"\x11\x22\x33\x44"), "received")
                    check(abs(msg.timestamp - time.time()) < 60, f"timestamp {msg.timestamp}")

                    out = os.path.join(tmp, "candump.log")
                    dump = canlib.candump_start(A, 2, out)
                    bus.send(can.Message(arbitration_id=0x321, data=[0xDE, 0xAD, 0x0A], is_extended_id=False))
                    bus.send(can.Message(arbitration_id=0x1ABCDE, data=[1], is_extended_id=True))
                    lines = canlib.candump_wait(dump, out)
                    check_equal(canlib.frames_of(lines), [f"{A} 321#DEAD0A", f"{A} 001ABCDE#01"], "sent by python-can")
                finally:
                    bus.shutdown()
    finally:
        canlib.delete(A, B)


def without_time(line):
    return re.sub(r" \d{10}\.\d{6} ", " T ", line)


def candump_times(lines):
    """The timestamps of candump -L lines, in seconds."""
    return [float(line.split(" ", 1)[0].strip("()")) for line in lines]


def opened_session(port):
    """A client that was greeted and opened A: in BCM mode, socketcand's default."""
    c = Client(port)
    check_equal(c.recv_once(), "< hi >", "greeting")
    c.send(f"< open {A} >")
    check_equal(c.recv_once(), "< ok >", "open")
    return c


def test_bcm_mode_jobs_on_the_bus():
    canlib.require_can("candump", "cansend")
    canlib.vcan(A)
    canlib.vcan(B)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp:
            with Daemon(config(port), tmp):
                c = opened_session(port)

                # A cyclic job every 100 ms: ten frames on A, spaced as asked (candump's kernel
                # timestamps), none on B.
                other_bus = canlib.Bus(B)
                out = os.path.join(tmp, "cyclic.log")
                dump = canlib.candump_start(A, 10, out)
                c.send("< add 0 100000 123 2 11 22 >")
                lines = canlib.candump_wait(dump, out)
                check_equal(set(canlib.frames_of(lines)), {f"{A} 123#1122"}, "cyclic frames")
                times = candump_times(lines)
                gaps = sorted(b - a for a, b in zip(times, times[1:]))
                median = gaps[len(gaps) // 2]
                print(f"cyclic job every 100 ms: gaps {min(gaps) * 1000:.1f}..{max(gaps) * 1000:.1f} ms, "
                      f"median {median * 1000:.1f} ms, mean {(times[-1] - times[0]) / 9 * 1000:.1f} ms")
                check(0.09 <= median <= 0.11, f"median gap {median:.4f}s is not 100 ms +-10%")
                check(0.09 <= (times[-1] - times[0]) / 9 <= 0.11, "mean gap is not 100 ms +-10%")
                check(gaps[0] >= 0.02 and gaps[-1] <= 0.5, f"gaps {gaps} outside 20..500 ms")
                other_bus.assert_nothing(0.3)
                other_bus.close()

                # update: new data, same job; the command is done once its echo comes back.
                c.send("< update 123 2 33 44 >< echo >")
                check_equal(c.element(), "< echo >", "update")
                out = os.path.join(tmp, "updated.log")
                lines = canlib.candump_wait(canlib.candump_start(A, 3, out), out)
                check_equal(canlib.frames_of(lines), [f"{A} 123#3344"] * 3, "updated frames")

                # delete: the job stops (the socket opened after it sees no frame).
                c.send("< delete 123 >< echo >")
                check_equal(c.element(), "< echo >", "delete")
                bus = canlib.Bus(A)
                bus.assert_nothing(0.5)

                # subscribe: every frame of 321, as socketcand's BCM mode prints it (bytes spaced).
                c.send("< subscribe 0 0 321 >< filter 0 0 456 1 FF >")
                c.send("< muxfilter 0 0 200 2 FF 00 00 00 00 00 00 00 33 FF 00 00 00 00 00 00 >< echo >")
                check_equal(c.element(), "< echo >", "receive jobs set up")
                for frame in ["321#AABB", "322#01", "456#0102", "456#0103", "200#4401", "200#3301", "200#3301",
                              "200#3302", "456#02", "321#AABB"]:
                    can_id, data = frame.split("#")
                    bus.send(int(can_id, 16), bytes.fromhex(data))
                got = [without_time(c.element()) for _ in range(6)]
                check_equal(got, ["< frame 321 T AA BB  >", "< frame 456 T 01 02  >", "< frame 200 T 33 01  >",
                                  "< frame 200 T 33 02  >", "< frame 456 T 02  >", "< frame 321 T AA BB  >"],
                            "subscribe (every frame), filter and muxfilter (changes in the masked bits only)")
                c.send("< unsubscribe 321 >< echo >")
                check_equal(c.element(), "< echo >", "unsubscribe")
                bus.send(0x321, b"\x01")
                bus.send(0x456, b"\x03")
                check_equal(without_time(c.element()), "< frame 456 T 03  >", "321 no longer delivered")

                # Malformed and refused commands: an error each, the session goes on.
                for command, error in [
                        ("< add 1 >", "< error syntax: add SEC USEC ID DLC DATA... >"),
                        ("< add 0 1000000 123 0 >", "< error bad interval 0 1000000 (seconds up to 34560000, "
                                                    "microseconds up to 999999) >"),
                        ("< subscribe 0 0 xyz >", "< error bad can_id xyz >"),
                        ("< delete 7 >", "< error delete failed: no such job >"),
                        ("< fdadd 0 0 123 0 0 >", "< error CAN FD is off on this listener >")]:
                    c.send(command)
                    check_equal(c.element(), error, command)
                c.send("< send 124 1 0a >")  # BCM mode sends too, to the opened bus
                bus.sock.settimeout(harness.IO_TIMEOUT)
                check_equal(bus.recv(), (0x124, b"\x0a", None), "send in BCM mode")
                bus.close()
                c.close()
    finally:
        canlib.delete(A, B)


def test_bcm_mode_can_fd():
    canlib.require_can("candump")
    canlib.vcan(A, fd=True)
    canlib.vcan(B, fd=True)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp:
            with Daemon(config(port, fd=True), tmp):
                c = opened_session(port)
                out = os.path.join(tmp, "fd.log")
                dump = canlib.candump_start(A, 3, out)
                c.send("< fdadd 0 50000 123 1 12 0 1 2 3 4 5 6 7 8 9 a b >")
                lines = canlib.candump_wait(dump, out)
                check_equal(canlib.frames_of(lines), [f"{A} 123##5000102030405060708090A0B"] * 3, "cyclic FD frames")
                c.send("< delete 123 >< fdsubscribe 0 0 321 >< echo >")
                check_equal(c.element(), "< echo >", "delete (the FD job) and fdsubscribe")
                bus = canlib.Bus(A, fd=True)
                bus.send(0x321, bytes(range(16)), fd_flags=0x01)
                check_equal(without_time(c.element()), "< fdframe 321 05 T 000102030405060708090A0B0C0D0E0F >",
                            "an FD frame from a subscription")
                bus.close()
                c.close()
    finally:
        canlib.delete(A, B)


def test_controlmode_statistics():
    canlib.require_can("cansend")
    canlib.vcan(A)
    canlib.vcan(B)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp:
            with Daemon(config(port), tmp):
                c = opened_session(port)
                c.send("< controlmode >")
                check_equal(c.recv_once(), "< ok >", "controlmode")
                c.send("< statistics 200 >")
                pattern = r"< stat (\d+) (\d+) (\d+) (\d+) >"
                first = re.fullmatch(pattern, c.element())
                check(first, "a stat line")
                for _ in range(5):
                    subprocess.run(["cansend", A, "123#0102"], check=True, timeout=30)
                deadline = time.monotonic() + harness.IO_TIMEOUT
                while True:
                    line = c.element()
                    m = re.fullmatch(pattern, line)
                    check(m, f"not a stat line: {line!r}")
                    if int(m.group(4)) >= int(first.group(4)) + 5:
                        break
                    check(time.monotonic() < deadline, "tx_packets never grew by 5")
                tx_bytes = int(m.group(3)) - int(first.group(3))
                check(tx_bytes >= 5 * 2, f"tx bytes grew by {tx_bytes}")
                c.send("< statistics 0 >< echo >")
                while c.element() != "< echo >":
                    pass
                c.sock.settimeout(0.6)
                try:
                    extra = c.sock.recv(4096)
                except socket.timeout:
                    extra = b""
                check_equal(c.buffer + extra, b"", "nothing after statistics 0")
                c.close()
    finally:
        canlib.delete(A, B)


def test_beacon_lists_the_buses_a_client_can_open():
    """The beacon names the server and every bus routed with it, as socketcand's does; a client
    that found the server in it opens the first bus."""
    canlib.require_can()
    canlib.vcan(A)
    canlib.vcan(B)
    port = harness.free_tcp_port()
    try:
        with harness.temp_dir() as tmp, harness.udp_socket(host="0.0.0.0") as discovery:
            to = f"127.255.255.255:{discovery.getsockname()[1]}"
            with Daemon(config(port, extra=f", socketcand_beacon: {{to: '{to}'}}"), tmp):
                text = harness.recv_datagram(discovery).decode()
                check_equal(text, f'<CANBeacon name="{socket.gethostname()}" type="SocketCAN" '
                                  f'description="sockbridge">\n<URL>can://127.0.0.1:{port}</URL>'
                                  f'<Bus name="{A}"/><Bus name="{B}"/></CANBeacon>', "the beacon")
                c = Client(port)
                check_equal(c.recv_once(), "< hi >", "greeting")
                c.send(f"< open {A} >")
                check_equal(c.recv_once(), "< ok >", "open the first bus of the beacon")
                c.close()
    finally:
        canlib.delete(A, B)


if __name__ == "__main__":
    harness.main()
