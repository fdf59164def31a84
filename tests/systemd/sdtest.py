# SPDX-License-Identifier: MIT
# Shared bits of the systemd suite: the integration harness, a NOTIFY_SOCKET the test owns, units.
import os
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import Skip, TestFailure  # noqa: E402,F401

UNITS = ["sockbridge.service", "sockbridge.socket", "sockbridge@.service"]


def unit_dir():
    return os.path.join(harness.SOURCE_ROOT, "systemd")


def need(tool):
    path = shutil.which(tool)
    if path is None:
        raise Skip(f"needs {tool}")
    return path


class NotifySocket:
    """An AF_UNIX datagram socket standing in for the service manager: the daemon is pointed at it
    through $NOTIFY_SOCKET (set in os.environ for the block, so harness.Daemon passes it on)."""

    def __init__(self, directory, watchdog_usec=None):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []  # one dict per datagram, in arrival order
        self.watchdog_usec = watchdog_usec
        self._saved = {}

    def __enter__(self):
        env = {"NOTIFY_SOCKET": self.path}
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        for key, value in env.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        return self

    def __exit__(self, *exc):
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.sock.close()
        return False

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        fields = {}
        for line in data.decode().split("\n"):
            if "=" in line:
                key, value = line.split("=", 1)
                fields[key] = value
        self.messages.append(fields)
        return fields

    def wait_for(self, key, value=None, timeout=harness.IO_TIMEOUT):
        """Reads until a message has `key` (equal to `value` when given); returns that message."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"no {key}={value or '*'} on NOTIFY_SOCKET within {timeout}s; got {self.messages}")
            message = self._read(left)
            if message is not None and key in message and (value is None or message[key] == value):
                return message

    def drain(self, wait=0.0):
        while self._read(wait) is not None:
            pass
        return self.messages


def states(messages):
    """The state changes among the messages: READY=1, RELOADING=1, STOPPING=1, in order."""
    out = []
    for m in messages:
        for key in ("READY", "RELOADING", "STOPPING"):
            if m.get(key) == "1":
                out.append(key)
    return out


def security_exposure(unit_path):
    result = harness.run([need("systemd-analyze"), "security", "--offline=yes", unit_path], check_rc=False)
    text = result.stdout.decode(errors="replace")
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", text)
    if not m:
        raise TestFailure(f"no exposure level in systemd-analyze output:\n{text}")
    return float(m.group(1)), text
