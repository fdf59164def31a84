# SPDX-License-Identifier: MIT
# The shipped units pass `systemd-analyze verify` and the services rate 2.0 or below in `security`.
import os
import shutil

import sdtest
from sdtest import harness, TestFailure


def installed_copies(tmp):
    """The units with ExecStart= pointing at the built daemon, as verify checks that it exists."""
    kill = shutil.which("kill") or "/bin/kill"
    for name in sdtest.UNITS:
        with open(os.path.join(sdtest.unit_dir(), name)) as f:
            text = f.read()
        text = text.replace("/usr/sbin/sockbridged", harness.BINARY).replace("/bin/kill", kill)
        # An instance for the template, as systemd would load it.
        target = name.replace("@.service", "@example.service")
        with open(os.path.join(tmp, target), "w") as f:
            f.write(text)
    return [os.path.join(tmp, n.replace("@.service", "@example.service")) for n in sdtest.UNITS]


def test_every_unit_passes_systemd_analyze_verify():
    analyze = sdtest.need("systemd-analyze")
    with harness.temp_dir() as tmp:
        units = installed_copies(tmp)
        result = harness.run([analyze, "verify"] + units, check_rc=False)
        output = result.stdout.decode(errors="replace")
        # Lines about other units of the host are not ours.
        ours = [line for line in output.splitlines() if "sockbridge" in line]
        if result.returncode != 0 or ours:
            raise TestFailure(f"systemd-analyze verify failed ({result.returncode}):\n{output}")


def test_service_exposure_is_at_most_2_0():
    for unit in ("sockbridge.service", "sockbridge@.service"):
        with harness.temp_dir() as tmp:
            path = os.path.join(tmp, unit.replace("@.service", "@example.service"))
            shutil.copy(os.path.join(sdtest.unit_dir(), unit), path)
            exposure, text = sdtest.security_exposure(path)
            print(f"{unit}: overall exposure {exposure}")
            if exposure > 2.0:
                raise TestFailure(f"{unit} rates {exposure} (> 2.0):\n{text}")


def test_service_is_notify_with_watchdog_and_reload():
    with open(os.path.join(sdtest.unit_dir(), "sockbridge.service")) as f:
        text = f.read()
    for line in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "User=sockbridge",
                 "ProtectSystem=strict",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_CAN AF_PACKET AF_NETLINK"):
        harness.check(line in text, f"sockbridge.service lacks '{line}'")


harness.main()
