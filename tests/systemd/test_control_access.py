# SPDX-License-Identifier: MIT
# The control socket admits root, the daemon's user and members of its group only: the file mode
# (0660) is the first gate, the caller's credentials (SO_PEERCRED, SO_PEERGROUPS) the second, which
# holds even when the file's mode is loosened from outside. Callers run as a throwaway uid with
# setpriv.
import os
import shutil
import stat

import sdtest  # noqa: F401
import harness
from ctltest import CTL, control_path
from harness import Daemon, Skip, check, check_equal

STRANGER = 40123      # a uid and gid no account has
GROUP = 40124         # the control socket's group in these tests


def as_user(uid, groups, *args):
    """sockbridgectl run as `uid` (gid `uid`) with these supplementary groups."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise Skip("needs root and setpriv to run sockbridgectl as another uid")
    group_args = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return harness.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", *group_args, CTL, *args], check_rc=False)


def config(control, mode="0660"):
    return f"""\
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{harness.free_tcp_port()}}}
daemon:
  control: {control}
  control_mode: "{mode}"
  control_group: {GROUP}
"""


def reachable_dir(tmp):
    # The stranger must reach the socket file: only its own mode and the daemon may stop it.
    os.chmod(tmp, 0o755)
    os.makedirs(os.path.dirname(control_path(tmp)), exist_ok=True)
    os.chmod(os.path.dirname(control_path(tmp)), 0o755)


def test_socket_file_belongs_to_the_control_group_with_mode_0660():
    with harness.temp_dir() as tmp:
        reachable_dir(tmp)
        control = control_path(tmp)
        with Daemon(config(control), tmp):
            st = os.stat(control)
            check_equal((oct(stat.S_IMODE(st.st_mode)), st.st_gid), (oct(0o660), GROUP), "mode and group")


def test_a_stranger_is_refused_by_the_file_mode():
    with harness.temp_dir() as tmp:
        reachable_dir(tmp)
        control = control_path(tmp)
        with Daemon(config(control), tmp):
            result = as_user(STRANGER, [], "--socket", control, "status")
            check_equal(result.returncode, 1, "exit code")
            check("Permission denied" in result.stdout.decode(), f"output: {result.stdout.decode()}")


def test_credentials_gate_holds_when_the_mode_is_loosened_from_outside():
    with harness.temp_dir() as tmp:
        reachable_dir(tmp)
        control = control_path(tmp)
        with Daemon(config(control), tmp) as daemon:
            os.chmod(control, 0o666)  # an admin's mistake: the file no longer stops anyone
            result = as_user(STRANGER, [], "--socket", control, "status")
            check(result.returncode != 0, f"a stranger got an answer: {result.stdout.decode()}")
            daemon.wait_for_log(rf"Control socket '{control}': refusing uid {STRANGER} \(pid \d+\): not root, not the "
                                rf"daemon's user and not in group {GROUP}")
            # A member of the group (a supplementary group, as usermod -aG makes it) is served.
            member = as_user(STRANGER, [GROUP], "--socket", control, "status")
            check_equal(member.returncode, 0, f"exit code of a member: {member.stdout.decode()}")
            check("LISTENER" in member.stdout.decode(), f"a member's status: {member.stdout.decode()}")


def test_mode_0600_leaves_the_group_out_too():
    with harness.temp_dir() as tmp:
        reachable_dir(tmp)
        control = control_path(tmp)
        with Daemon(config(control, "0600"), tmp) as daemon:
            os.chmod(control, 0o666)
            member = as_user(STRANGER, [GROUP], "--socket", control, "status")
            check(member.returncode != 0, f"a group member got an answer under 0600: {member.stdout.decode()}")
            daemon.wait_for_log(rf"refusing uid {STRANGER} \(pid \d+\): not root, not the daemon's user$")
            root = harness.run([CTL, "--socket", control, "status"])
            check("LISTENER" in root.stdout.decode(), "root is served")


if __name__ == "__main__":
    harness.main()
