# SPDX-License-Identifier: MIT
# Names the config gives are looked up through the system's resolver and NSS (/etc/hosts, /etc/passwd, /etc/group), in every build, static ones included.
import grp
import os
import pwd
import socket

import harness
from harness import Daemon, check, check_equal


def test_host_names_resolve_as_the_system_resolves_them():
    # The first address getaddrinfo gives this machine's libc for "localhost" is the one the daemon
    # must use too: a statically linked glibc reads the same /etc/hosts and gai.conf.
    family, _, _, _, address = socket.getaddrinfo("localhost", 0, socket.AF_UNSPEC, socket.SOCK_STREAM)[0]
    if family != socket.AF_INET:
        raise harness.Skip(f"localhost is {address[0]} first here; these helpers speak IPv4")
    host = address[0]
    port_in = harness.free_port(socket.SOCK_STREAM, host)
    with harness.udp_socket(host) as receiver, harness.temp_dir() as tmp:
        port_out = receiver.getsockname()[1]
        config = f"""\
listeners:
  in: {{type: tcp, listen: "localhost:{port_in}", format: lines}}
  out: {{type: udp, peer: "localhost:{port_out}"}}
routes:
  - {{from: in, to: out}}
"""
        with Daemon(config, tmp):
            sender = harness.tcp_connect(port_in, host)
            sender.sendall(b"by name\n")
            check_equal(harness.recv_datagram(receiver), b"by name", "the datagram sent to localhost")
            sender.close()


def test_user_and_group_names_are_found():
    harness.require_root("drops privileges to a named user")
    try:
        user, group = pwd.getpwnam("nobody"), grp.getgrnam("nogroup")
    except KeyError:
        raise harness.Skip("no user 'nobody' or group 'nogroup'")
    port_in, port_out = harness.free_tcp_port(), harness.free_udp_port()
    with harness.temp_dir() as tmp:
        os.chmod(tmp, 0o755)
        config = f"""\
user: nobody
group: nogroup
listeners:
  in: {{type: tcp, listen: 127.0.0.1:{port_in}, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:{port_out}}}
routes:
  - {{from: in, to: out}}
"""
        with Daemon(config, tmp) as daemon:
            check(daemon.log_matches(rf"Dropped privileges to user 'nobody' \(uid {user.pw_uid}, gid {group.gr_gid}"),
                  "the drop to the named user and group is logged")
            with open(f"/proc/{daemon.pid}/status") as f:
                ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))}
            check_equal(ids["Uid"], [str(user.pw_uid)] * 4, "Uid (real, effective, saved, fs)")
            check_equal(ids["Gid"], [str(group.gr_gid)] * 4, "Gid (real, effective, saved, fs)")


def test_an_unknown_user_is_a_config_error():
    with harness.temp_dir() as tmp:
        config = """\
user: no-such-user-sockbridge
listeners:
  in: {type: tcp, listen: 127.0.0.1:7000, format: lines}
"""
        daemon = Daemon(config, tmp, args=["--check"], expect_running=False)
        daemon.start()
        check(daemon.wait_exit() != 0, "--check refuses the config")
        check(daemon.log_matches(r"sockbridge\.yaml:1:\d+: .*no-such-user-sockbridge"), "the unknown user, with its position")


if __name__ == "__main__":
    harness.main()
