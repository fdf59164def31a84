# SPDX-License-Identifier: MIT
# UNIX socket files: a stale file is replaced, a live socket or a non-socket is never taken, the
# mode is applied, and abstract names work.
import os
import socket
import stat

import harness
from harness import Daemon, check, check_equal


def config_for(path, tmp, extra=""):
    return f"""\
listeners:
  local: {{type: unix, listen: "{path}", socket: stream, format: lines{extra}}}
routes:
  - from: local
    log: {{path: {os.path.join(tmp, "lines.log")}, format: raw}}
"""


def send_and_see_it_logged(address, tmp):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(harness.IO_TIMEOUT)
        client.connect(address)
        client.sendall(b"ping\n")
    log = os.path.join(tmp, "lines.log")

    def logged():
        return os.path.exists(log) and open(log, "rb").read() == b"ping"
    harness.wait_until(logged, what="the line in the log")


def test_stale_socket_file_is_replaced():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "svc.sock")
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dead.bind(path)
        dead.close()  # the file stays, nobody listens: what a crashed process leaves
        check(stat.S_ISSOCK(os.lstat(path).st_mode), "the stale file is there")
        with Daemon(config_for(path, tmp), tmp) as daemon:
            daemon.wait_for_log(rf"Listener 'local': removed stale socket file '{path}'")
            send_and_see_it_logged(path, tmp)


def test_live_socket_is_never_taken():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "svc.sock")
        owner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        owner.bind(path)
        owner.listen(4)
        daemon = Daemon(config_for(path, tmp), tmp, expect_running=False)
        daemon.start()
        check_equal(daemon.wait_exit(), 1, "exit code")
        check(any(f"Failed to listen on '{path}' for listener 'local': a running process is listening on it" in line
                  for line in daemon.stderr_lines), "the refusal is logged")
        # The owner still has its socket: a client reaches it.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            conn, _ = owner.accept()
            conn.close()
        owner.close()


def test_a_file_that_is_not_a_socket_is_never_removed():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "precious.txt")
        with open(path, "w") as f:
            f.write("keep me")
        daemon = Daemon(config_for(path, tmp), tmp, expect_running=False)
        daemon.start()
        check_equal(daemon.wait_exit(), 1, "exit code")
        check(any(f"Failed to listen on '{path}' for listener 'local': it exists and is not a socket" in line
                  for line in daemon.stderr_lines), "the refusal is logged")
        with open(path) as f:
            check_equal(f.read(), "keep me", "the file is untouched")


def test_mode_is_applied_and_the_file_removed_at_exit():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "svc.sock")
        with Daemon(config_for(path, tmp, ', mode: "0640"'), tmp):
            check_equal(stat.S_IMODE(os.stat(path).st_mode), 0o640, "socket file mode")
            send_and_see_it_logged(path, tmp)
        check(not os.path.exists(path), "the daemon removed its socket file on exit")


def test_abstract_name_carries_traffic():
    name = f"sockbridge-test-{os.getpid()}"
    with harness.temp_dir() as tmp:
        with Daemon(config_for("@" + name, tmp), tmp):
            send_and_see_it_logged("\0" + name, tmp)


if __name__ == "__main__":
    harness.main()
