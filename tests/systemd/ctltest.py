# SPDX-License-Identifier: MIT
# Shared bits of the sockbridgectl tests: run the client, a daemon config with a control socket.
import os
import subprocess

import sdtest  # noqa: F401  (puts the integration harness on the path)
import harness
from harness import TestFailure

CTL = os.environ.get("SOCKBRIDGECTL", "")


def ctl(*args, check_rc=True, timeout=30):
    """Runs sockbridgectl; returns (exit code, stdout, stderr)."""
    if not CTL:
        raise TestFailure("SOCKBRIDGECTL is not set: run through meson test")
    result = subprocess.run([CTL] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=timeout)
    out, err = result.stdout.decode(), result.stderr.decode()
    if check_rc and result.returncode != 0:
        raise TestFailure(f"sockbridgectl {' '.join(args)}: exit {result.returncode}\nstdout: {out}\nstderr: {err}")
    return result.returncode, out, err


def control_path(tmp):
    return os.path.join(tmp, "run", "control")
