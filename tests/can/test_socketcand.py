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


def config(port, fd=False):
    return f"""\
listeners:
  bus0: {{type: can, interface: {A}}}
  bus1: {{type: can, interface: {B}}}
  sc: {{type: tcp, listen: 127.0.0.1:{port}, format: socketcand{", socketcand_fd: true" if fd else ""}}}
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
                c.send("< bcmmode >")
                check_equal(c.element(), "< error bcmmode not supported >", "bcmmode")
                c.send("< echo >")
                check_equal(c.element(), "< echo >", "echo")

                out = os.path.join(tmp, "candump.log")
                dump = canlib.candump_start(A, 3, out)
                c.send("< send 123 4 de ad be ef >< send 1AAAAAAA 2 1 F1 >")
                c.send("< sendrtr 456 2 >")
                lines = canlib.candump_wait(dump, out)
                check_equal(canlib.frames_of(lines), [f"{A} 123#DEADBEEF", f"{A} 1AAAAAAA#01F1", f"{A} 456#R2"],
                            "frames the client sent")
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


if __name__ == "__main__":
    harness.main()
