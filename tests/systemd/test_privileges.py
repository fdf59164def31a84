# SPDX-License-Identifier: MIT
# Run by hand as root with `user:`, the daemon binds first, then drops to that user with no capabilities.
import os

import sdtest
from sdtest import harness
from harness import Daemon, check, check_equal


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def test_root_drops_to_user_after_binding_a_privileged_port():
    harness.require_root("drops privileges from root")
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise harness.Skip("no user 'nobody'")
    port = 1023 if os.system("ss -ltn 2>/dev/null | grep -q ':1023 '") != 0 else 1022
    with harness.temp_dir() as tmp:
        os.chmod(tmp, 0o755)
        config = f"""\
user: nobody
listeners:
  low: {{type: tcp, listen: 127.0.0.1:{port}, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:9}}
routes:
  - {{from: low, to: out}}
"""
        with Daemon(config, tmp) as daemon:
            check(daemon.log_matches(rf"Dropped privileges to user 'nobody' \(uid {nobody.pw_uid}"),
                  "the drop is logged")
            fields = status_fields(daemon.pid)
            check_equal(fields["Uid"], [str(nobody.pw_uid)] * 4, "Uid (real, effective, saved, fs)")
            check_equal(fields["Gid"], [str(nobody.pw_gid)] * 4, "Gid")
            check_equal(fields["CapEff"], ["0000000000000000"], "CapEff")
            check_equal(fields["CapPrm"], ["0000000000000000"], "CapPrm")
            harness.tcp_connect(port).close()


harness.main()
