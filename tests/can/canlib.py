# SPDX-License-Identifier: MIT
# Helpers for the CAN tests (inside the test VM): vcan interfaces, raw CAN sockets, candump.
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import harness  # noqa: E402
from harness import Skip, TestFailure  # noqa: E402

if not harness.BINARY:
    built = os.path.join(harness.SOURCE_ROOT, "build", "src", "sockbridged")
    if os.path.exists(built):
        harness.BINARY = built

CAN_EFF_FLAG = 0x80000000
CAN_RTR_FLAG = 0x40000000
CAN_ERR_FLAG = 0x20000000
CAN_RAW_FD_FRAMES = 5


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if check and r.returncode:
        raise TestFailure(f"ip {' '.join(args)}: {r.stdout.decode().strip()}")


def require_can(*tools):
    if not os.path.isdir("/proc/net/can"):
        raise Skip("no SocketCAN in this kernel: run through tests/vm/run-in-vm")
    for tool in ("ip",) + tools:
        if not shutil.which(tool):
            raise Skip(f"'{tool}' is not installed")


def vcan(name, fd=False, up=True):
    """A fresh vcan: MTU 72 (CAN FD) when fd, else 16 (classic; vcan's own default is 72)."""
    ip("link", "del", name, check=False)
    ip("link", "add", "dev", name, "type", "vcan")
    ip("link", "set", name, "mtu", "72" if fd else "16")
    ip("link", "set", name, "txqueuelen", "10000")
    if up:
        ip("link", "set", "up", name)


BACKLOG = "/proc/sys/net/core/netdev_max_backlog"


@contextlib.contextmanager
def deep_backlog(depth=100000):
    """vcan and loopback hand every frame and datagram to a per-CPU backlog of at most 1000: on a
    starved emulated CPU it overflows and the kernel drops frames before any socket sees them,
    while the writer's write() succeeded. Raised for the block, so that only sockets drop."""
    with open(BACKLOG) as f:
        saved = f.read().strip()
    with open(BACKLOG, "w") as f:
        f.write(str(depth))
    try:
        yield
    finally:
        with open(BACKLOG, "w") as f:
            f.write(saved)


def delete(*names):
    for name in names:
        ip("link", "del", name, check=False)


class Bus:
    """A CAN_RAW socket on one interface (FD frames enabled when fd=True)."""

    def __init__(self, name, fd=False, timeout=harness.IO_TIMEOUT):
        self.sock = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
        if fd:
            self.sock.setsockopt(socket.SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1)
        harness.grow_rcvbuf(self.sock, 4 << 20)
        self.sock.bind((name,))
        self.sock.settimeout(timeout)

    def send(self, can_id, data=b"", fd_flags=None):
        if fd_flags is None:
            self.sock.send(struct.pack("=IB3x8s", can_id, len(data), data))
        else:
            self.sock.send(struct.pack("=IBB2x64s", can_id, len(data), fd_flags, data))

    def recv(self):
        raw = self.sock.recv(72)
        if len(raw) == 72:
            can_id, length, flags = struct.unpack_from("=IBB", raw)
            return can_id, raw[8:8 + length], flags
        can_id, length = struct.unpack_from("=IB", raw)
        return can_id, raw[8:8 + length], None

    def recv_n(self, n):
        return [self.recv() for _ in range(n)]

    def assert_nothing(self, wait=0.3):
        import select
        r, _, _ = select.select([self.sock], [], [], wait)
        if r:
            raise TestFailure(f"unexpected frame: {self.recv()!r}")

    def close(self):
        self.sock.close()


def candump_start(interface, count, path, extra=()):
    """candump -L of `count` frames, returned once its socket is registered (one more receiver on
    `interface` in /proc/net/can/rcvlist_all than before)."""
    def receivers():
        with open("/proc/net/can/rcvlist_all") as f:
            return sum(1 for line in f if interface in line.split())
    before = receivers()
    out = open(path, "w")
    proc = subprocess.Popen(["candump", "-L", *extra, "-n", str(count), interface], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if receivers() > before:
            return proc
        time.sleep(0.02)
    proc.kill()
    raise TestFailure(f"candump on {interface} did not start")


def candump_wait(proc, path, timeout=harness.IO_TIMEOUT):
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        with open(path) as f:
            raise TestFailure(f"candump did not get all its frames within {timeout}s; got:\n{f.read()}")
    with open(path) as f:
        return f.read().splitlines()


def frames_of(lines):
    """candump -L lines without their timestamps: "vcan0 123#DEADBEEF"."""
    return [line.split(" ", 1)[1] for line in lines]
