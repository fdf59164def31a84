# SPDX-License-Identifier: MIT
# sockbridge under a real systemd: boots the host's systemd as PID 1 in the test VM
# (tests/vm/run-in-vm --systemd: overlay root, one boot for the whole test), installs sockbridge
# there with `meson install`, and checks systemctl start/status/reload/stop and the journal.
#
# On the host (not root: skipped, exit 77) this script re-runs itself in the VM; in the VM
# ($SOCKBRIDGE_VM_SYSTEMD=1) it runs the checks. Environment: SOCKBRIDGED (in the build dir),
# SOURCE_ROOT.
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time

SOURCE_ROOT = os.environ.get("SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
UNIT = "sockbridge.service"
CONFIG = """\
# written by tests/systemd/test_systemd_vm.py
listeners:
  ingress: {type: tcp, listen: 127.0.0.1:7000, format: lines, max_clients: 16}
  egress: {type: udp, peer: 127.0.0.1:7001}
routes:
  - {from: ingress, to: egress}
  - from: ingress
    log: {path: /var/log/sockbridge/traffic.jsonl, format: jsonl}
daemon:
  shutdown_timeout: 5s
  log_level: info
"""
# The reload adds a listener and a route.
CONFIG_RELOADED = CONFIG.replace("routes:\n", "  egress2: {type: udp, peer: 127.0.0.1:7002}\nroutes:\n  - {from: ingress, to: egress2}\n")

T0 = time.monotonic()
failures = []


def log(message):
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


def check(condition, message):
    if condition:
        log(f"ok: {message}")
    else:
        log(f"FAIL: {message}")
        failures.append(message)
    return condition


def run(*argv, check_rc=True, timeout=120):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check_rc and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}")
    return result


def wait_until(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def show(prop):
    return run("systemctl", "show", "-P", prop, UNIT).stdout.strip()


def is_active():
    return run("systemctl", "is-active", UNIT, check_rc=False).stdout.strip()


def journal():
    """The unit's journal records, as dicts (journalctl -o json)."""
    run("journalctl", "--sync", check_rc=False)
    out = run("journalctl", "-u", "sockbridge", "-o", "json", "--no-pager").stdout
    records = []
    for line in out.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


def find(records, pattern):
    regex = re.compile(pattern)
    return [r for r in records if isinstance(r.get("MESSAGE"), str) and regex.search(r["MESSAGE"])]


def wait_journal(pattern, what):
    return wait_until(lambda: find(journal(), pattern), f"the journal line {what} ({pattern!r})")[-1]


def install(build_dir):
    """`meson install` into a staging dir, copied onto the (overlay) root. The installed unit
    names this build's paths (prefix /usr/local by default); the test config goes where it says.
    Returns the config path."""
    stage = "/tmp/sockbridge-stage"
    run("meson", "install", "-C", build_dir, "--no-rebuild", "--quiet", "--destdir", stage, timeout=300)
    installed = {}
    for top, _, names in os.walk(stage):
        for name in names:
            target = os.path.join(top, name)[len(stage):]
            # File by file: /lib may be a symlink to usr/lib here (merged /usr), a directory there.
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(top, name), target)
            installed.setdefault(name, target)
    for name in ("sockbridged", "sockbridgectl"):
        if name not in installed:
            raise RuntimeError(f"meson install did not install {name}")
    for what in ("sockbridge.service", "sockbridge@.service", "sockbridge.socket"):
        if what not in installed:
            raise RuntimeError(f"meson install did not install {what}")
    log("installed: " + ", ".join(sorted(f"{n}={p}" for n, p in installed.items() if "sockbridge" in n
                                         or p.endswith("/sockbridge.conf"))))
    with open(installed["sockbridge.service"]) as f:
        unit = f.read()
    match = re.search(r"^ExecStart=(\S+) --config (\S+)$", unit, re.M)
    if not match or match.group(1) != installed["sockbridged"]:
        raise RuntimeError(f"the installed unit does not run the installed sockbridged:\n{unit}")
    config = match.group(2)
    os.makedirs(os.path.dirname(config), exist_ok=True)
    with open(config, "w") as f:
        f.write(CONFIG)
    os.chmod(config, 0o644)
    return config


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def in_vm():
    with open("/proc/uptime") as f:
        log(f"test started at {float(f.read().split()[0]):.1f}s guest uptime; PID 1 is "
            + open("/proc/1/comm").read().strip())
    check(open("/proc/1/comm").read().strip() == "systemd", "PID 1 is systemd")
    build_dir = os.path.dirname(os.path.dirname(os.path.abspath(os.environ["SOCKBRIDGED"])))
    config_path = install(build_dir)
    log("meson install done")

    run("systemd-sysusers")
    run("systemd-tmpfiles", "--create", "sockbridge.conf")
    run("systemctl", "daemon-reload")
    user = pwd.getpwnam("sockbridge")
    check(user.pw_uid < 1000, f"systemd-sysusers made the system user sockbridge (uid {user.pw_uid})")
    check(os.stat("/var/lib/sockbridge").st_uid == user.pw_uid, "systemd-tmpfiles made /var/lib/sockbridge")

    # Receiver first: the daemon's UDP peer.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 7001))
    udp.settimeout(30)

    start = run("systemctl", "start", UNIT, check_rc=False)
    check(start.returncode == 0, f"systemctl start sockbridge succeeds{'' if start.returncode == 0 else ': ' + start.stdout}")
    if start.returncode != 0:
        print(run("systemctl", "status", "--no-pager", "-l", UNIT, check_rc=False).stdout)
        print(run("journalctl", "-b", "--no-pager", "-n", "60", check_rc=False).stdout)
        return
    log("started")
    check(is_active() == "active", "systemctl is-active: active")
    pid = int(show("MainPID"))
    check(pid > 0, f"MainPID={pid}")
    status_text = wait_until(lambda: (lambda s: s if re.match(r"2/2 listeners up", s) else None)(show("StatusText")),
                             "StatusText '2/2 listeners up'")
    check(True, f"StatusText={status_text!r}")
    status = run("systemctl", "status", "--no-pager", "-l", UNIT, check_rc=False).stdout
    print(status, flush=True)
    check("Active: active (running)" in status and 'Status: "2/2 listeners up' in status,
          "systemctl status shows active (running) and the STATUS line")

    fields = status_fields(pid)
    check(fields["Uid"] == [str(user.pw_uid)] * 4 and fields["Gid"] == [str(user.pw_gid)] * 4,
          f"the daemon runs as sockbridge (Uid {fields['Uid']}, Gid {fields['Gid']})")
    check(int(fields["CapEff"][0], 16) == 0 and int(fields["CapPrm"][0], 16) == 0,
          f"no capabilities left (CapEff {fields['CapEff'][0]}, CapPrm {fields['CapPrm'][0]})")

    with socket.create_connection(("127.0.0.1", 7000), timeout=30) as tcp:
        tcp.sendall(b"hello from systemd\n")
        data, _ = udp.recvfrom(65536)
    check(data == b"hello from systemd", f"TCP line -> UDP datagram: {data!r}")

    ctl = run("sockbridgectl", "status", check_rc=False)
    print(ctl.stdout, flush=True)
    check(ctl.returncode == 0 and re.search(r"^ingress\s+tcp\s+up", ctl.stdout, re.M)
          and re.search(r"^egress\s+udp\s+up", ctl.stdout, re.M),
          "sockbridgectl status over /run/sockbridge/control lists ingress and egress up")
    check(os.stat("/run/sockbridge/control").st_gid == user.pw_gid, "the control socket belongs to group sockbridge")

    # Journal: the start records, with their fields.
    listening = wait_journal(r"^Listener 'ingress' listening on 127\.0\.0\.1:7000", "listening")
    check(listening.get("PRIORITY") == "6" and listening.get("SYSLOG_IDENTIFIER") == "sockbridged"
          and listening.get("LISTENER") == "ingress" and listening.get("_SYSTEMD_UNIT") == UNIT,
          "journal: 'Listener ingress listening' with PRIORITY=6, SYSLOG_IDENTIFIER=sockbridged, LISTENER=ingress")
    running = wait_journal(rf"^sockbridged \S+ running {re.escape(config_path)} ", "running")
    check(running.get("PRIORITY") == "5", "journal: the 'sockbridged ... running' line at PRIORITY=5 (notice)")
    connected = wait_journal(r"^Listener 'ingress': client \S+ connected", "client connected")
    check(connected.get("PEER", "").startswith("127.0.0.1:"), f"journal: client connected with PEER={connected.get('PEER')}")

    # Reload: a listener and a route more.
    with open(config_path, "w") as f:
        f.write(CONFIG_RELOADED)
    reload = run("systemctl", "reload", UNIT, check_rc=False)
    check(reload.returncode == 0, "systemctl reload sockbridge succeeds")
    reloaded = wait_journal(r"^Reloaded: ", "Reloaded:")
    check(reloaded.get("PRIORITY") == "5" and "egress2" in reloaded["MESSAGE"],
          f"journal: {reloaded['MESSAGE']!r} at PRIORITY=5")
    check(is_active() == "active" and int(show("MainPID")) == pid, "still active, same MainPID after the reload")
    status_text = wait_until(lambda: (lambda s: s if re.match(r"3/3 listeners up", s) else None)(show("StatusText")),
                             "StatusText '3/3 listeners up'")
    check(True, f"StatusText after the reload={status_text!r}")

    stop = run("systemctl", "stop", UNIT, check_rc=False)
    check(stop.returncode == 0, "systemctl stop sockbridge succeeds")
    check(is_active() == "inactive", f"systemctl is-active after stop: {is_active()}")
    check(show("Result") == "success", f"Result={show('Result')}")
    final = wait_journal(r"^Final counters: ", "Final counters:")
    counters = json.loads(final["MESSAGE"][len("Final counters: "):])
    check(final.get("PRIORITY") == "5", f"journal: final counters at PRIORITY=5: {final['MESSAGE'][:160]}...")
    check(counters["listeners"]["ingress"]["messages_in"] == 1 and counters["listeners"]["egress2"]["messages_out"] == 0
          and counters["listeners"]["egress"]["messages_out"] == 1,
          "the final counters count the one message in and out")
    text = run("journalctl", "-u", "sockbridge", "--no-pager").stdout
    print(text, flush=True)
    for pattern in (r"Starting sockbridge\.service", r"Started sockbridge\.service", r"Reloading sockbridge\.service",
                    r"Reloaded sockbridge\.service", r"sockbridged\[\d+\]: Reloaded: ", r"Stopped sockbridge\.service",
                    r"sockbridged\[\d+\]: Final counters: "):
        check(re.search(pattern, text), f"journalctl -u sockbridge shows /{pattern}/")
    with open("/var/log/sockbridge/traffic.jsonl") as f:
        logged = f.read()
    check("hello from systemd" in logged, "the traffic log under LogsDirectory= has the line")


def main():
    if os.environ.get("SOCKBRIDGE_VM_SYSTEMD") == "1":
        try:
            in_vm()
        except Exception as e:  # noqa: BLE001 - report, then fail
            log(f"FAIL: {type(e).__name__}: {e}")
            failures.append(str(e))
            print(run("journalctl", "-b", "--no-pager", "-n", "80", check_rc=False).stdout)
        log(f"{'FAIL' if failures else 'PASS'}: {len(failures)} failures")
        return 1 if failures else 0
    if os.geteuid() != 0:
        print("SKIP: needs root (boots a VM with tests/vm/run-in-vm)", file=sys.stderr)
        return 77
    sockbridged = os.path.abspath(os.environ.get("SOCKBRIDGED") or os.path.join(SOURCE_ROOT, "build", "src", "sockbridged"))
    argv = [os.path.join(SOURCE_ROOT, "tests", "vm", "run-in-vm"), "--systemd", "--",
            "env", f"SOCKBRIDGED={sockbridged}", f"SOURCE_ROOT={SOURCE_ROOT}", "PYTHONDONTWRITEBYTECODE=1",
            "python3", os.path.abspath(__file__)]
    started = time.monotonic()
    rc = subprocess.call(argv, cwd=SOURCE_ROOT)
    print(f"run-in-vm --systemd: exit {rc} after {time.monotonic() - started:.1f}s (boot, test, power-off)")
    if rc == 77:  # run-in-vm's own skip is only for non-root, checked above: a failure here
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
