# SPDX-License-Identifier: MIT
# `sockbridgectl tap LISTENER`: a live line per message the listener receives, as it was sent.
import re
import select
import subprocess

import ctltest
from ctltest import CTL, ctl, control_path
import harness
from harness import Daemon, TestFailure, check, check_equal


def test_tap_shows_each_message_with_its_peer_and_a_preview():
    port_in = harness.free_tcp_port()
    with harness.udp_socket() as receiver, harness.temp_dir() as tmp:
        control = control_path(tmp)
        cfg = f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}}}
routes:
  - {{from: in, to: out}}
daemon: {{control: {control}}}
"""
        with Daemon(cfg, tmp):
            tap = subprocess.Popen([CTL, "--socket", control, "tap", "in", "--count", "3"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                # It says so on stderr once the daemon took the subscription: nothing sent after is missed.
                ready, _, _ = select.select([tap.stderr], [], [], harness.IO_TIMEOUT)
                first = tap.stderr.readline().decode() if ready else ""
                check_equal(first, "Tapping 'in'; Ctrl-C stops\n", "the tap's first line")
                sender = harness.tcp_connect(port_in)
                peer = "127.0.0.1:%d" % sender.getsockname()[1]
                sender.sendall(b'hello\ntab\there "quoted"\n' + bytes(range(0, 8)) + b"\n")
                harness.recv_datagrams(receiver, 3)
                out, err = tap.communicate(timeout=harness.IO_TIMEOUT)
            except (subprocess.TimeoutExpired, TestFailure):
                tap.kill()
                out, err = tap.communicate()
                raise TestFailure(f"tap did not show 3 messages: {out!r} {err!r}")
            lines = out.decode().splitlines()
            check_equal(tap.returncode, 0, f"tap exit code (stderr {err!r})")
            pattern = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z  in  %s  bytes  " % peer
            for line in lines:
                check(re.match(pattern, line), f"tap line {line!r} does not match {pattern!r}")
            check_equal([line.split("  ", 4)[4] for line in lines],
                        ['5 bytes  "hello"', '17 bytes  "tab\\there \\"quoted\\""',
                         '8 bytes  "\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07"'], "tap lines")
            sender.close()


def test_tap_of_an_unknown_listener_suggests_one():
    with harness.temp_dir() as tmp:
        control = control_path(tmp)
        cfg = f"""\
listeners:
  input: {{type: udp, bind: 127.0.0.1:{harness.free_udp_port()}}}
daemon: {{control: {control}}}
"""
        with Daemon(cfg, tmp):
            code, out, err = ctl("--socket", control, "tap", "inptu", check_rc=False)
            check_equal((code, out, err), (1, "", "no listener named 'inptu' (did you mean 'input'?)\n"), "tap")


if __name__ == "__main__":
    harness.main()
