# SPDX-License-Identifier: MIT
# What the benchmark scripts share: starting sockbridged and knowing when it is READY (its sd_notify
# message on a NOTIFY_SOCKET of our own), stopping a process with its CPU time, medians and tables.
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time


class Sockbridged:
    """sockbridged with `config` (YAML text), started and READY when the constructor returns.
    `ready_seconds` is the time from exec to its READY=1 notification."""

    def __init__(self, binary, config, directory, name="sockbridge.yaml", timeout=60, env=None, prefix=()):
        self.config_path = os.path.join(directory, name)
        with open(self.config_path, "w") as f:
            f.write(config)
        self.notify_path = os.path.join(directory, f".notify-{name}")
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        environment = dict(os.environ if env is None else env, NOTIFY_SOCKET=self.notify_path)
        started = time.monotonic()
        self.proc = subprocess.Popen([*prefix, binary, "--config", self.config_path], env=environment,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.notify.settimeout(timeout)
        while True:
            try:
                message = self.notify.recv(4096).decode()
            except socket.timeout:
                self.proc.kill()
                raise RuntimeError(f"sockbridged did not report READY within {timeout}s: "
                                   f"{self.proc.stderr.read().decode()[-2000:]}")
            if "READY=1" in message.split("\n"):
                break
        self.ready_seconds = time.monotonic() - started

    def stop(self):
        """SIGTERM, wait; returns its user + system CPU seconds. Its log is in `self.log` then."""
        try:
            self.notify.close()
            os.unlink(self.notify_path)
        except OSError:
            pass
        cpu = stop_process(self.proc)
        self.log = self.proc.stderr.read().decode(errors="replace")
        return cpu

    def final_counters(self):
        """The JSON of its "Final counters" log line; after stop()."""
        for line in reversed(self.log.splitlines()):
            if "Final counters: " in line:
                return json.loads(line.split("Final counters: ", 1)[1])
        raise RuntimeError(f"sockbridged logged no final counters: {self.log[-2000:]}")


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Signals `proc`, reaps it and returns its user + system CPU seconds. os.wait4, not Popen's
    methods: those would reap it before wait4 sees its resource usage."""
    if proc.returncode is not None:
        return 0.0
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while True:
        pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = 0
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            deadline += timeout
        time.sleep(0.01)


def cannelloni_bridge(in_interface, out_interface, port, flush_us=None):
    """The configs of two daemons bridging in_interface -> cannelloni over UDP port -> out_interface:
    (sender, receiver). flush_us None: the daemon's default flush_timeout."""
    flush = "" if flush_us is None else f", flush_timeout: {flush_us}us"
    sender = f"""listeners:
  bus: {{type: can, interface: {in_interface}}}
  tunnel: {{type: udp, peer: 127.0.0.1:{port}, format: cannelloni{flush}}}
routes:
  - {{from: bus, to: tunnel, queue: {{overflow: block}}}}
daemon: {{log_level: warning}}
"""
    receiver = f"""listeners:
  tunnel: {{type: udp, bind: 127.0.0.1:{port}, format: cannelloni, receive_buffer: 4MiB}}
  bus: {{type: can, interface: {out_interface}}}
routes:
  - {{from: tunnel, to: bus, write: true, queue: {{max_messages: 100000}}}}
daemon: {{log_level: warning}}
"""
    return sender, receiver


def status_kib(pid, *keys):
    """{key: KiB} of the /proc/PID/status lines named (VmRSS, RssAnon, ...)."""
    figures = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                figures[key] = int(value.split()[0])
    return figures


def rss_kib(pid):
    """VmRSS of a process, KiB."""
    return status_kib(pid, "VmRSS").get("VmRSS", 0)


def free_port(kind=socket.SOCK_DGRAM, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def temp_dir():
    return tempfile.TemporaryDirectory(prefix="sockbridge-bench-")
