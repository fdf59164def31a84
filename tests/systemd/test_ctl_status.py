# SPDX-License-Identifier: MIT
# `sockbridgectl status` and `stats --json` report exactly the traffic the test sent; the control
# socket's mode; a clear error without a daemon; `check` prints positioned errors.
import json
import os
import re
import stat

import ctltest
from ctltest import ctl, control_path
import harness
from harness import Daemon, check, check_equal


def config(port_in, port_out, control, extra=""):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:{port_out}}}
routes:
  - from: in
    to: out
    queue: {{max_messages: 500, overflow: block}}
daemon:
  control: {control}
{extra}"""


def test_status_and_stats_count_exactly_what_was_sent():
    port_in = harness.free_tcp_port()
    with harness.udp_socket() as receiver, harness.temp_dir() as tmp:
        control = control_path(tmp)
        with Daemon(config(port_in, receiver.getsockname()[1], control), tmp):
            lines = [b"message %03d " % i + b"z" * i for i in range(40)]
            sender = harness.tcp_connect(port_in)
            sender.sendall(b"".join(line + b"\n" for line in lines))
            got = harness.recv_datagrams(receiver, len(lines))
            check_equal(got, lines, "datagrams")
            total = sum(len(line) for line in lines)

            _, out, _ = ctl("--socket", control, "stats", "--json")
            stats = json.loads(out)
            check_equal(stats["listeners"]["in"]["messages_in"], 40, "in.messages_in")
            check_equal(stats["listeners"]["in"]["bytes_in"], total, "in.bytes_in")
            check_equal(stats["listeners"]["in"]["connects"], 1, "in.connects")
            # Every counter the "Counters" log line has is in the stats too (one list of counters).
            check_equal((stats["listeners"]["in"]["lost"], stats["listeners"]["in"]["kernel_drops"]), (0, 0),
                        "in.lost, in.kernel_drops")
            check_equal(stats["listeners"]["out"]["messages_out"], 40, "out.messages_out")
            check_equal(stats["listeners"]["out"]["bytes_out"], total, "out.bytes_out")
            check_equal(stats["routes"]["in->out"]["messages_in"], 40, "route messages_in")
            check_equal(stats["routes"]["in->out"]["messages_out"], 40, "route messages_out")
            check_equal(stats["routes"]["in->out"]["drops"], 0, "route drops")

            _, out, _ = ctl("--socket", control, "status", "--json")
            status = json.loads(out)
            listeners = {entry["name"]: entry for entry in status["listeners"]}
            check_equal(listeners["in"]["kind"], "tcp", "in.kind")
            check_equal(listeners["in"]["state"], "up", "in.state")
            check_equal(len(listeners["in"]["peers"]), 1, "in peers")
            check_equal(listeners["in"]["peers"][0], "127.0.0.1:%d" % sender.getsockname()[1], "in peer")
            check_equal(listeners["in"]["counters"]["messages_in"], 40, "status in.messages_in")
            check_equal(listeners["out"]["peers"], ["127.0.0.1:%d" % receiver.getsockname()[1]], "out peers")
            route = status["routes"][0]
            check_equal((route["name"], route["from"], route["to"]), ("in->out", "in", "out"), "route")
            check_equal(route["queue"], {"messages": 0, "bytes": 0, "max_messages": 500,
                                         "max_bytes": 4 << 20, "overflow": "block"}, "route queue")
            check(listeners["in"]["rates"]["messages_in"] > 0, f"a rate after traffic: {listeners['in']['rates']}")

            # The table: one aligned row per listener and route, exact counts, bytes in units.
            _, table, _ = ctl("--socket", control, "status")
            print(table)
            size = re.escape(f"{total / 1024:.1f} KiB")
            check(re.search(r"^in\s+tcp\s+up\s+1\s+40\s+%s\s+0\s+0 B\s+0\s+0\s" % size, table, re.M),
                  f"no 'in' row with 40 messages in and {size}:\n{table}")
            check(re.search(r"^out\s+udp\s+up\s+1\s+0\s+0 B\s+40\s+%s\s+0\s+0\s" % size, table, re.M),
                  f"no 'out' row with 40 messages out:\n{table}")
            check(re.search(r"^in->out\s+40\s+40\s+%s\s+0\s+0/500\s" % size, table, re.M),
                  f"no route row:\n{table}")
            header = table.splitlines()[2]
            check(header.startswith("LISTENER  KIND  STATE"), f"header: {header!r}")
            sender.close()


def test_control_socket_has_mode_0660_and_goes_at_exit():
    port_in = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        control = control_path(tmp)
        with Daemon(config(port_in, harness.free_udp_port(), control), tmp) as daemon:
            mode = os.stat(control).st_mode
            check(stat.S_ISSOCK(mode), "the control path is a socket")
            check_equal(oct(stat.S_IMODE(mode)), oct(0o660), "control socket mode")
            check_equal(daemon.stop(), 0, "exit code")
        check(not os.path.exists(control), "the control socket is removed at exit")


def test_control_mode_from_the_config():
    with harness.temp_dir() as tmp:
        control = control_path(tmp)
        cfg = config(harness.free_tcp_port(), harness.free_udp_port(), control, '  control_mode: "0600"\n')
        with Daemon(cfg, tmp):
            check_equal(oct(stat.S_IMODE(os.stat(control).st_mode)), oct(0o600), "control socket mode")


def test_clear_error_when_the_daemon_is_not_running():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "control")
        code, out, err = ctl("--socket", path, "status", check_rc=False)
        check_equal((code, out, err.strip()),
                    (1, "", f"Failed to connect to '{path}': No such file or directory (is sockbridged running?)"),
                    "sockbridgectl status without a daemon")


def test_reload_through_the_control_socket():
    port_in = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        control = control_path(tmp)
        with Daemon(config(port_in, harness.free_udp_port(), control), tmp) as daemon:
            _, out, _ = ctl("--socket", control, "reload")
            check(out.startswith("Reloaded: listeners: 2 kept"), f"reload output: {out!r}")
            with open(daemon.config_path, "w") as f:
                f.write(daemon.config_text.replace("format: lines}", "format: lines, max_message: 0}"))
            code, out, err = ctl("--socket", control, "reload", check_rc=False)
            check_equal(code, 1, "exit code of a refused reload")
            check(re.search(r"sockbridge\.yaml:2:\d+: ", err), f"positioned error in: {err!r}")
            check("Reload refused" in err, f"refusal in: {err!r}")


def test_check_prints_positioned_errors():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "broken.yaml")
        with open(path, "w") as f:
            f.write("listeners:\n  in: {type: tcpp, listen: 127.0.0.1:7000}\ndaemon:\n  control: relative/path\n")
        code, out, err = ctl("check", path, check_rc=False)
        check_equal((code, out), (1, ""), "exit code and stdout")
        check_equal(err.splitlines(), [
            f"{path}:2:14: unknown listener type 'tcpp' (did you mean 'tcp'?)",
            f"{path}:4:12: 'control' must be an absolute socket path shorter than 108 bytes, or none, "
            "not 'relative/path'",
        ], "check errors")
        good = os.path.join(tmp, "good.yaml")
        with open(good, "w") as f:
            f.write(config(7000, 7001, "none"))
        check_equal(ctl("check", good), (0, f"{good}: OK (2 listeners, 1 routes)\n", ""), "check on a good file")


if __name__ == "__main__":
    harness.main()
