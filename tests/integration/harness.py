# SPDX-License-Identifier: MIT
# Integration test harness: runs the real sockbridged on a written config and talks to it over sockets.
"""Helpers shared by the integration tests (Python 3 standard library only).

A test file defines functions named ``test_*`` and ends with ``harness.main()``. Each file is one
meson test: it exits 0 when every case passes, 1 when any fails, and 77 (skip) when every case
skipped (``raise Skip("why")``).

Every wait here is bounded. Waits for something the daemon does read its stderr (the daemon logs
each event: a client connected, a connection closed, the counters); ``wait_until`` polls with a
short backoff only for things that announce nothing, such as the contents of a file.
"""

import contextlib
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BINARY = os.environ.get("SOCKBRIDGED", "")
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# Generous: CI machines are small and loaded.
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
IO_TIMEOUT = 30.0

_STDERR_PREFIX = re.compile(r"^<\d>")


class Skip(Exception):
    """Raised by a case that cannot run here (not root, no namespaces, ...)."""


class TestFailure(AssertionError):
    pass


# ---------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    """The real sockbridged, run on `config_text` written into `tmpdir`.

    Used as a context manager: entering starts it and waits for its "running" line; leaving
    stops it (SIGTERM, then SIGKILL after STOP_TIMEOUT) and, when the block raised, prints its
    stderr. `wrapper` is a command prefix such as ["ip", "netns", "exec", "ns"].
    """

    _all = []  # every daemon of the running case, so a failure can show their stderr

    def __init__(self, config_text, tmpdir, args=(), wrapper=(), name="sockbridge.yaml",
                 expect_running=True):
        self.tmpdir = tmpdir
        self.config_path = os.path.join(tmpdir, name)
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.config_text = config_text
        self.args = list(args)
        self.wrapper = list(wrapper)
        self.expect_running = expect_running
        self.proc = None
        self.returncode = None
        self._lines = []          # stderr lines, without the trailing newline
        self._cond = threading.Condition()
        self._eof = False
        self._reader = None
        Daemon._all.append(self)

    # -- lifecycle --

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.running():
                self.stop()
        except Exception:
            self.kill()
            if exc_type is None:
                raise
        return False

    def start(self):
        if not BINARY:
            raise TestFailure("SOCKBRIDGED is not set: run through meson test")
        command = self.wrapper + [BINARY, "-c", self.config_path] + self.args
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, close_fds=True)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if self.expect_running:
            self.wait_for_log(r"sockbridged \S+ running ", STARTUP_TIMEOUT, what="the 'running' line")

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _read_stderr(self):
        # select() with a deadline-free loop: the thread ends at EOF, when the daemon exits.
        fd = self.proc.stderr.fileno()
        partial = b""
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                if self.proc.poll() is not None and not _readable(fd):
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            partial += chunk
            *complete, partial = partial.split(b"\n")
            if complete:
                with self._cond:
                    self._lines.extend(c.decode("utf-8", "replace") for c in complete)
                    self._cond.notify_all()
        with self._cond:
            if partial:
                self._lines.append(partial.decode("utf-8", "replace"))
            self._eof = True
            self._cond.notify_all()

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """Sends SIGTERM and waits, bounded, for the exit; returns the exit code."""
        if self.proc is None:
            raise TestFailure("daemon was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure(f"sockbridged did not exit within {timeout}s of {signal.Signals(sig).name}")
        self._join_reader()
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the daemon to exit on its own (a config error, say); returns the code."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure(f"sockbridged did not exit within {timeout}s")
        self._join_reader()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self._join_reader()

    def _join_reader(self):
        if self._reader is not None:
            self._reader.join(10)

    # -- stderr --

    @property
    def stderr_lines(self):
        with self._cond:
            return list(self._lines)

    @property
    def stderr(self):
        return "\n".join(self.stderr_lines)

    def mark(self):
        """The current end of stderr: pass to wait_for_log(since=) to see only newer lines."""
        with self._cond:
            return len(self._lines)

    def wait_for_log(self, regex, timeout=IO_TIMEOUT, since=0, what=None):
        """Waits until a stderr line (its "<N>" prefix removed) matches; returns the match."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self._lines):
                    m = pattern.search(_STDERR_PREFIX.sub("", self._lines[index]))
                    index += 1
                    if m:
                        return m
                if self._eof:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(10)
                    raise TestFailure(f"sockbridged exited (code {self.proc.poll()}) before logging "
                                      f"{what or repr(regex)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"timed out after {timeout}s waiting for sockbridged to log "
                                      f"{what or repr(regex)}")
                self._cond.wait(left)

    def log_matches(self, regex):
        pattern = re.compile(regex)
        return [m for m in (pattern.search(_STDERR_PREFIX.sub("", line)) for line in self.stderr_lines) if m]

    # -- counters --

    def counters(self, timeout=IO_TIMEOUT):
        """SIGUSR1, then the JSON of the Counters line it makes the daemon log."""
        since = self.mark()
        self.proc.send_signal(signal.SIGUSR1)
        m = self.wait_for_log(r"Counters: (\{.*\})$", timeout, since=since, what="the Counters line")
        return json.loads(m.group(1))

    def final_counters(self):
        """The JSON of the "Final counters" line; call after stop()."""
        matches = self.log_matches(r"Final counters: (\{.*\})$")
        if not matches:
            raise TestFailure("sockbridged logged no 'Final counters' line")
        return json.loads(matches[-1].group(1))

    def wait_counter(self, predicate, timeout=IO_TIMEOUT, what="counters"):
        """Asks for counters (SIGUSR1) until predicate(counters) holds; returns them."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            c = self.counters(max(1.0, deadline - time.monotonic()))
            if predicate(c):
                return c
            if time.monotonic() >= deadline:
                raise TestFailure(f"timed out after {timeout}s waiting for {what}; last: {json.dumps(c)}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def vm_rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise TestFailure("no VmRSS in /proc/PID/status")


def _readable(fd):
    r, _, _ = select.select([fd], [], [], 0)
    return bool(r)


# ---------------------------------------------------------------------------------------------
# Sockets and waiting


_ports_handed_out = set()


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port the kernel just handed out for `kind` on `host` (bind to port 0, then close), never
    one this process was given before: the kernel may hand the same port out twice in a row."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port
    raise TestFailure("no fresh port after 100 tries")


def free_tcp_port():
    return free_port(socket.SOCK_STREAM)


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


def tcp_server(port=0, host="127.0.0.1", backlog=16):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def tcp_connect(port, host="127.0.0.1", timeout=IO_TIMEOUT, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def accept(server, timeout=IO_TIMEOUT, what="a connection"):
    server.settimeout(timeout)
    try:
        conn, _ = server.accept()
    except socket.timeout:
        raise TestFailure(f"timed out after {timeout}s waiting for {what}")
    conn.settimeout(timeout)
    return conn


def recv_exactly(sock, n, timeout=IO_TIMEOUT):
    """Exactly n bytes from a stream socket, or TestFailure saying how many came before EOF or
    the deadline."""
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"timed out after {timeout}s: received {got} of {n} bytes: "
                              f"{_preview(b''.join(chunks))}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            continue
        if not chunk:
            raise TestFailure(f"EOF after {got} of {n} bytes: {_preview(b''.join(chunks))}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock, timeout=IO_TIMEOUT, limit=1 << 30):
    """Everything until EOF (a reset counts as EOF and is returned as reset=True)."""
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"timed out after {timeout}s waiting for EOF; got {got} bytes: "
                              f"{_preview(b''.join(chunks))}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return b"".join(chunks), True
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        got += len(chunk)
        if got > limit:
            raise TestFailure(f"more than {limit} bytes before EOF")


def recv_datagram(sock, timeout=IO_TIMEOUT, size=65536 + 1):
    sock.settimeout(timeout)
    try:
        return sock.recv(size)
    except socket.timeout:
        raise TestFailure(f"timed out after {timeout}s waiting for a datagram")


def recv_datagrams(sock, count, timeout=IO_TIMEOUT, size=65536 + 1):
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"timed out after {timeout}s: received {len(out)} of {count} datagrams; "
                              f"last: {_preview(out[-1]) if out else 'none'}")
        sock.settimeout(left)
        try:
            out.append(sock.recv(size))
        except socket.timeout:
            continue
    return out


def udp_socket(host="127.0.0.1", port=0, family=socket.AF_INET, rcvbuf=4 << 20):
    """A bound UDP socket with a large receive buffer (forced past rmem_max when root)."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    grow_rcvbuf(s, rcvbuf)
    s.bind((host, port))
    return s


SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; not exported by every Python


def grow_rcvbuf(sock, size):
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except (PermissionError, OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def assert_no_datagram(sock, wait=0.2):
    """That nothing more is queued (a short bounded look; nothing announces an absence)."""
    r, _, _ = select.select([sock], [], [], wait)
    if r:
        extra = sock.recv(65537)
        raise TestFailure(f"unexpected extra datagram: {_preview(extra)}")


def wait_until(predicate, timeout=IO_TIMEOUT, what="a condition"):
    """Polls predicate() with a short backoff (5 ms doubling to 100 ms) until it is true; returns
    its value. Only for things that make no event, such as a file's contents."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.1)


def forward_config(port_in, to, in_format=None, out_format=None, route="", extra_routes=(), tail=""):
    """The config most tests start from: a tcp listener 'in' on 127.0.0.1:`port_in` routed to
    'out', a udp listener sending to the socket `to`, or a tcp listener on port `to` (an int).
    `route`: more keys of that route ("queue: {...}"); `extra_routes`: more route lines (a log);
    `tail`: more top-level sections (daemon:)."""
    def with_format(fmt):
        return f", format: {fmt}" if fmt else ""
    if isinstance(to, int):
        out = f"type: tcp, listen: 127.0.0.1:{to}"
    else:
        out = f"type: udp, peer: 127.0.0.1:{to.getsockname()[1]}"
    lines = ["listeners:",
             f"  in: {{type: tcp, listen: 127.0.0.1:{port_in}{with_format(in_format)}}}",
             f"  out: {{{out}{with_format(out_format)}}}",
             "routes:",
             f"  - {{from: in, to: out{', ' + route if route else ''}}}"]
    lines += [f"  - {r}" for r in extra_routes]
    return "\n".join(lines) + "\n" + tail


@contextlib.contextmanager
def temp_dir(prefix="sockbridge-it-"):
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Sender(threading.Thread):
    """Sends `data` on a stream socket from a thread (sendall), so the test can read meanwhile."""

    def __init__(self, sock, data, shutdown_after=False):
        super().__init__(daemon=True)
        self.sock = sock
        self.data = data
        self.shutdown_after = shutdown_after
        self.error = None

    def run(self):
        try:
            self.sock.settimeout(None)
            self.sock.sendall(self.data)
            if self.shutdown_after:
                self.sock.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self, timeout=IO_TIMEOUT):
        self.join(timeout)
        if self.is_alive():
            raise TestFailure(f"sender still blocked after {timeout}s")
        if self.error:
            raise TestFailure(f"sender failed: {self.error!r}")


class Reader(threading.Thread):
    """Reads a stream socket until EOF from a thread, keeping the bytes (or only a count and a
    hash when keep=False)."""

    def __init__(self, sock, keep=True, hasher=None):
        super().__init__(daemon=True)
        self.sock = sock
        self.keep = keep
        self.hasher = hasher
        self.chunks = []
        self.count = 0
        self.error = None
        self.reset = False
        self.ended = False
        self._cond = threading.Condition()

    def wait_count(self, n, timeout=IO_TIMEOUT):
        """Waits until n bytes have been read (fails at EOF or the deadline before that)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.count < n:
                if self.ended:
                    raise TestFailure(f"EOF after {self.count} of {n} bytes" +
                                      (f" ({self.error!r})" if self.error else ""))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"timed out after {timeout}s: read {self.count} of {n} bytes")
                self._cond.wait(left)

    def stop(self, timeout=IO_TIMEOUT):
        """Wakes the reading thread (shutdown) and waits for it."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.finish(timeout)

    def run(self):
        try:
            self._run()
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _run(self):
        try:
            self.sock.settimeout(None)
            while True:
                try:
                    chunk = self.sock.recv(1 << 20)
                except ConnectionResetError:
                    self.reset = True
                    break
                if not chunk:
                    break
                if self.hasher is not None:
                    self.hasher.update(chunk)
                if self.keep:
                    self.chunks.append(chunk)
                with self._cond:
                    self.count += len(chunk)
                    self._cond.notify_all()
        except Exception as e:
            self.error = e

    @property
    def data(self):
        return b"".join(self.chunks)

    def finish(self, timeout=IO_TIMEOUT):
        self.join(timeout)
        if self.is_alive():
            raise TestFailure(f"reader saw no EOF within {timeout}s ({self.count} bytes read)")
        if self.error:
            raise TestFailure(f"reader failed: {self.error!r}")


def read_jsonl(path, growing=False):
    """The records of a jsonl log; fails on a line that is not a complete JSON object. With
    growing=True (the daemon may be writing), an unfinished last line is left for later."""
    records = []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        if not growing:
            raise TestFailure(f"{path} ends in an incomplete line: {_preview(data[-200:])}")
        data = data[:data.rfind(b"\n") + 1]
    for number, line in enumerate(data.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError as e:
            raise TestFailure(f"{path}:{number}: not JSON ({e}): {_preview(line)}")
        if not isinstance(record, dict):
            raise TestFailure(f"{path}:{number}: not a JSON object: {_preview(line)}")
        records.append(record)
    return records


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _preview(data, limit=200):
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def check_equal(actual, expected, what):
    if actual != expected:
        if isinstance(actual, (bytes, bytearray)) and isinstance(expected, (bytes, bytearray)):
            first = next((i for i, (a, b) in enumerate(zip(actual, expected)) if a != b),
                         min(len(actual), len(expected)))
            raise TestFailure(f"{what}: {len(actual)} bytes, expected {len(expected)}; first difference "
                              f"at offset {first}: got {_preview(actual[first:first + 40])}, expected "
                              f"{_preview(expected[first:first + 40])}")
        raise TestFailure(f"{what}: got {actual!r}, expected {expected!r}")


# ---------------------------------------------------------------------------------------------
# Network namespaces (root only)

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def require_root(why):
    if os.geteuid() != 0:
        raise Skip(f"needs root: {why}")


def run(command, check_rc=True):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if check_rc and result.returncode != 0:
        raise TestFailure(f"{' '.join(command)} failed ({result.returncode}): "
                          f"{result.stdout.decode(errors='replace')}")
    return result


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextlib.contextmanager
def network_namespace(setup=()):
    """A fresh network namespace with lo up, which this thread enters for the block (sockets
    made meanwhile live in it, and so do processes started from it); left and deleted after.
    `setup` is a list of `ip` argument lists run in it ("ip netns exec")."""
    require_root("creates a network namespace")
    if shutil.which("ip") is None:
        raise Skip("needs the 'ip' command (iproute2)")
    name = f"sbit{os.getpid()}"
    result = run(["ip", "netns", "add", name], check_rc=False)
    if result.returncode != 0:
        raise Skip(f"cannot create a network namespace: {result.stdout.decode(errors='replace').strip()}")
    original = os.open("/proc/self/ns/net", os.O_RDONLY)
    entered = False
    try:
        run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"])
        for args in setup:
            run(["ip", "netns", "exec", name, "ip"] + list(args))
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
            entered = True
        finally:
            os.close(target)
        yield name
    finally:
        if entered:
            _setns(original)
        os.close(original)
        run(["ip", "netns", "del", name], check_rc=False)


# ---------------------------------------------------------------------------------------------
# The runner


def skip_without_features():
    """Exits 77 (skipped), saying why, when the test needs a feature this build left out: meson
    passes SOCKBRIDGE_NEEDS (the test's) and SOCKBRIDGE_FEATURES (the build's), comma-separated."""
    needs = [f for f in os.environ.get("SOCKBRIDGE_NEEDS", "").split(",") if f]
    built = set(os.environ.get("SOCKBRIDGE_FEATURES", "").split(","))
    missing = [f for f in needs if f not in built]
    if missing:
        options = " ".join(f"-D{f}=enabled" for f in missing)
        print(f"--- SKIP every case: sockbridged was built without {', '.join(missing)} (needs {options})",
              flush=True)
        sys.exit(77)


def main(cases=None):
    """Runs every test_* function of the calling module (or `cases`), in file order."""
    if cases is None:
        module = sys.modules["__main__"]
        cases = [v for k, v in vars(module).items() if k.startswith("test_") and callable(v)]
        cases.sort(key=lambda f: f.__code__.co_firstlineno)
    only = sys.argv[1:]
    if only:
        cases = [c for c in cases if c.__name__ in only]
    skip_without_features()
    passed, failed, skipped = [], [], []
    for case in cases:
        Daemon._all = []
        started = time.monotonic()
        print(f"=== {case.__name__}", flush=True)
        try:
            case()
        except Skip as e:
            skipped.append(case.__name__)
            print(f"--- SKIP {case.__name__}: {e}", flush=True)
            continue
        except BaseException as e:
            failed.append(case.__name__)
            print(f"--- FAIL {case.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
            traceback.print_exc(file=sys.stdout)
            for daemon in Daemon._all:
                daemon.kill()
                print(f"----- sockbridged stderr (exit {daemon.proc.poll() if daemon.proc else 'n/a'}, "
                      f"config {daemon.config_path}):", flush=True)
                print(daemon.config_text)
                print("-----")
                lines = daemon.stderr_lines
                if len(lines) > 250:
                    lines = lines[:50] + [f"... ({len(lines) - 250} lines left out) ..."] + lines[-200:]
                print("\n".join(lines), flush=True)
            if isinstance(e, KeyboardInterrupt):
                raise
            continue
        finally:
            for daemon in Daemon._all:
                daemon.kill()
        passed.append(case.__name__)
        print(f"--- PASS {case.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
    print(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
        sys.exit(1)
    if skipped and not passed:
        sys.exit(77)
    sys.exit(0)
