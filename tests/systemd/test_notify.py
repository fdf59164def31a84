# SPDX-License-Identifier: MIT
# The sd_notify sequence on a NOTIFY_SOCKET the test owns: READY only once every listener is up,
# STATUS with the counts, RELOADING then READY on SIGHUP, WATCHDOG pings, STOPPING at SIGTERM.
import os
import re
import signal
import socket
import time

import sdtest
from sdtest import harness, NotifySocket, TestFailure
from harness import Daemon, check, check_equal


def config(port, extra=""):
    return f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{port}, format: lines}}
  sink: {{type: udp, peer: 127.0.0.1:9}}
{extra}routes:
  - from: front
    to: sink
"""


def test_ready_only_after_listeners_are_up_then_reload_and_stop():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp, NotifySocket(tmp) as notify:
        daemon = Daemon(config(port), tmp, expect_running=False)
        daemon.start()
        try:
            ready = notify.wait_for("READY", "1")
            # READY=1 means every listener accepts now: connect at once, no retry.
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
            check(re.match(r"2/2 listeners up, \d+ msg/s, 0 dropped$", ready.get("STATUS", "")),
                  f"STATUS with READY=1: {ready}")
            check_equal(ready.get("MAINPID"), str(daemon.pid), "MAINPID")
            # The daemon logs it before it sends READY=1; the test's stderr reader may not have seen
            # the line yet, so it is awaited (the connect above already proved the listener up).
            daemon.wait_for_log(r"Listener 'front' listening on", what="the listener's start line")

            daemon.proc.send_signal(signal.SIGHUP)
            notify.wait_for("READY", "1")
            check_equal(sdtest.states(notify.messages), ["READY", "RELOADING", "READY"], "states so far")

            daemon.stop()
            notify.drain(0.2)
            check_equal(sdtest.states(notify.messages), ["READY", "RELOADING", "READY", "STOPPING"], "states")
        finally:
            daemon.kill()


def test_no_ready_when_a_listener_fails_to_start():
    with harness.tcp_server() as taken, harness.temp_dir() as tmp, NotifySocket(tmp) as notify:
        port = taken.getsockname()[1]
        daemon = Daemon(config(port), tmp, expect_running=False)
        daemon.start()
        check_equal(daemon.wait_exit(), 1, "exit code")
        messages = notify.drain(0.2)
        check_equal(sdtest.states(messages), [], "states")
        check(any(m.get("STATUS", "").startswith("failed to start: Failed to listen on") for m in messages),
              f"STATUS names the failure: {messages}")


def test_refused_reload_still_answers_ready():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp, NotifySocket(tmp) as notify:
        with Daemon(config(port), tmp) as daemon:
            notify.wait_for("READY", "1")
            with open(daemon.config_path, "w") as f:
                f.write("listeners:\n  front: {type: tcp, listen: nowhere}\n")
            daemon.proc.send_signal(signal.SIGHUP)
            message = notify.wait_for("READY", "1")
            check(message.get("STATUS", "").startswith("reload refused (1 errors)"), f"STATUS: {message}")
            check_equal(sdtest.states(notify.messages), ["READY", "RELOADING", "READY"], "states")


def watchdog_pings(loop):
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp, NotifySocket(tmp, watchdog_usec=200_000) as notify:
        saved = os.environ.get("SOCKBRIDGE_LOOP")
        os.environ["SOCKBRIDGE_LOOP"] = loop
        try:
            with Daemon(config(port), tmp):
                notify.wait_for("READY", "1")
                started = time.monotonic()
                for _ in range(3):
                    notify.wait_for("WATCHDOG", "1", timeout=5)
                elapsed = time.monotonic() - started
                check(elapsed < 2.0, f"3 WATCHDOG=1 pings took {elapsed:.2f}s with WatchdogSec=200ms")
        finally:
            if saved is None:
                os.environ.pop("SOCKBRIDGE_LOOP", None)
            else:
                os.environ["SOCKBRIDGE_LOOP"] = saved


def test_watchdog_pings_from_sd_event_loop():
    watchdog_pings("sd-event")


def test_watchdog_pings_from_epoll_loop():
    watchdog_pings("epoll")


def test_no_status_timer_outside_systemd():
    # Without NOTIFY_SOCKET there is nothing to tell and no periodic wakeup: the daemon sleeps.
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        os.environ.pop("NOTIFY_SOCKET", None)
        # No control socket: the default path is shared, and another test's client would wake it.
        with Daemon(config(port) + "daemon: {control: none}\n", tmp) as daemon:
            def switches():
                with open(f"/proc/{daemon.pid}/status") as f:
                    text = f.read()
                return sum(int(v) for v in re.findall(r"(?:non)?voluntary_ctxt_switches:\s+(\d+)", text))
            time.sleep(0.3)
            before = switches()
            time.sleep(1.5)
            after = switches()
            check(after - before <= 2, f"{after - before} context switches in 1.5s while idle")


def armed_timers(pid):
    """How many of the process's timerfds are armed (fdinfo it_value not zero)."""
    armed = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        match = re.search(r"it_value: \((\d+), (\d+)\)", text)
        if match and (int(match.group(1)) or int(match.group(2))):
            armed += 1
    return armed


def test_status_updates_rest_while_idle_and_resume_with_traffic():
    # Under a service manager STATUS= is republished while it changes; an idle daemon arms no
    # timer at all (no periodic wakeup), and the next message brings the updates back.
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp, NotifySocket(tmp) as notify:
        with Daemon(config(port), tmp) as daemon:
            notify.wait_for("READY", "1")
            harness.wait_until(lambda: armed_timers(daemon.pid) == 0, timeout=30,
                               what="no armed timer in the idle daemon (the status timer rests)")
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"a line\n" * 200)
                harness.wait_until(lambda: armed_timers(daemon.pid) > 0, timeout=10,
                                   what="the status timer armed again by traffic")
                while True:
                    status = notify.wait_for("STATUS", timeout=30)["STATUS"]
                    if not re.search(r", 0 msg/s,", status):
                        break
                check(re.match(r"2/2 listeners up, [1-9]\d* msg/s, 0 dropped$", status), f"STATUS with traffic: {status}")
            notify.wait_for("STATUS", "2/2 listeners up, 0 msg/s, 0 dropped", timeout=30)
            harness.wait_until(lambda: armed_timers(daemon.pid) == 0, timeout=30,
                               what="no armed timer once the traffic stopped")


harness.main()
