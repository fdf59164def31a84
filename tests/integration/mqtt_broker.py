# SPDX-License-Identifier: MIT
# A real mosquitto broker and mosquitto_sub subscribers for the mqtt tests, each on a free loopback port.
"""Starts Debian's mosquitto with a config written in a temporary directory and waits for its
"running" line; Subscriber runs mosquitto_sub and collects "TOPIC HEXPAYLOAD" lines. Every wait
is bounded and awaits an event (a line printed), never a fixed sleep."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import harness
from harness import Skip, TestFailure

IO_TIMEOUT = harness.IO_TIMEOUT


def require_mosquitto():
    for tool in ("mosquitto", "mosquitto_sub", "mosquitto_pub"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            raise Skip(f"needs {tool} (Debian packages mosquitto and mosquitto-clients; "
                       "packaging/dev-setup.sh --tests installs them)")


def require_mqtt_build():
    """Skips where sockbridged was built without libmosquitto (-Dmqtt=disabled): it has no mqtt listener."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write("listeners:\n  mq: {type: mqtt, broker: 127.0.0.1:1883}\n")
        f.flush()
        result = subprocess.run([harness.BINARY, "--check", "-c", f.name], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=30)
    if b"built without libmosquitto" in result.stderr:
        raise Skip("sockbridged was built without libmosquitto (-Dmqtt=disabled)")


class _Lines:
    """A process's output lines, read by a thread, awaited with a condition."""

    def __init__(self, stream):
        self.lines = []
        self.messages = 0  # lines of mosquitto_sub's "M TOPIC HEX" format, counted as they come
        self.cond = threading.Condition()
        self.eof = False
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self.cond:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                self.messages += line.startswith("M ")
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.lines):
                left = deadline - time.monotonic()
                if self.eof:
                    raise TestFailure(f"the process ended before {what}; output: {self.lines[-20:]}")
                if left <= 0:
                    raise TestFailure(f"timed out after {timeout}s waiting for {what}; output: {self.lines[-20:]}")
                self.cond.wait(left)
            return list(self.lines)


class Broker:
    """mosquitto on 127.0.0.1:`port`; `persistence` keeps sessions and queued messages over a restart."""

    def __init__(self, tmpdir, port=None, persistence=False, extra=""):
        require_mosquitto()
        require_mqtt_build()
        self.port = port or harness.free_tcp_port()
        self.dir = os.path.join(tmpdir, f"broker-{self.port}")
        os.makedirs(self.dir, exist_ok=True)
        self.config = os.path.join(self.dir, "mosquitto.conf")
        with open(self.config, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n"
                    f"log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\n"
                    f"max_queued_messages 0\nmax_inflight_messages 0\n"
                    f"persistence {'true' if persistence else 'false'}\npersistence_location {self.dir}/\n"
                    f"autosave_interval 0\nuser root\n{extra}")
        self.proc = None
        self.output = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", self.config], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.output = _Lines(self.proc.stderr)
        try:
            self.output.wait(lambda lines: any(re.search(r"mosquitto version \S+ running", l) for l in lines),
                             IO_TIMEOUT, f"mosquitto to run on port {self.port}")
        except TestFailure:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def wait_for_log(self, regex, since=0, what=None):
        pattern = re.compile(regex)
        self.output.wait(lambda lines: any(pattern.search(l) for l in lines[since:]), IO_TIMEOUT,
                         what or f"mosquitto to log {regex!r}")

    def mark(self):
        with self.output.cond:
            return len(self.output.lines)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(IO_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise TestFailure("mosquitto did not stop on SIGTERM")
        self.output.thread.join(10)


class Subscriber:
    """mosquitto_sub on `topic` (QoS 1). Each message is a (topic, payload bytes) pair in messages().
    `client_id` makes it a persistent session (clean session off) that survives a broker restart
    when the broker has persistence."""

    def __init__(self, port, topic, client_id=None, extra=(), host="127.0.0.1"):
        command = ["stdbuf", "-oL", "mosquitto_sub", "-h", host, "-p", str(port), "-q", "1", "-d", "-F", "M %t %x",
                   *extra]
        for t in ([topic] if isinstance(topic, str) else topic):
            command += ["-t", t]
        if client_id:
            command += ["-c", "-i", client_id]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.output = _Lines(self.proc.stdout)
        self.wait_subscribed()

    def wait_subscribed(self, since=0):
        self.output.wait(lambda lines: any("received SUBACK" in l for l in lines[since:]), IO_TIMEOUT,
                         "mosquitto_sub's SUBACK")

    def mark(self):
        with self.output.cond:
            return len(self.output.lines)

    def wait_connected(self, since):
        self.output.wait(lambda lines: any("received CONNACK" in l for l in lines[since:]), IO_TIMEOUT,
                         "mosquitto_sub to connect again")

    @staticmethod
    def _parse(lines):
        out = []
        for line in lines:
            if line.startswith("M "):
                parts = line.split(" ", 2)
                out.append((parts[1], bytes.fromhex(parts[2]) if len(parts) > 2 else b""))
        return out

    def messages(self):
        with self.output.cond:
            return self._parse(self.output.lines)

    def wait_messages(self, count, timeout=IO_TIMEOUT, what=None):
        self.output.wait(lambda lines: self.output.messages >= count, timeout,
                         what or f"{count} messages at mosquitto_sub")
        return self.messages()

    def close(self):
        # SIGKILL: mosquitto_sub may sit out a SIGTERM; its session (if any) stays on the broker.
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.output.thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def publish(port, topic, payload, qos=1):
    """One message with mosquitto_pub (waits for its PUBACK before exiting)."""
    result = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos), "-t", topic,
                             "-s"], input=payload, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=IO_TIMEOUT)
    if result.returncode != 0:
        raise TestFailure(f"mosquitto_pub failed: {result.stdout.decode(errors='replace')}")


def first_occurrence_order(sequence_numbers):
    """QoS 1 is at least once: a message in flight when the connection broke may come twice.
    The first time each number is seen, in order of arrival."""
    seen, order = set(), []
    for n in sequence_numbers:
        if n not in seen:
            seen.add(n)
            order.append(n)
    return order
