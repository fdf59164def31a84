# SPDX-License-Identifier: MIT
# Certificate renewal: a reload (SIGHUP) reads a TLS listener's certificate and key afresh even
# when its config did not change, so renewed files serve new connections while the open ones go
# on; a renewal with a broken file is refused and the running certificate stays.
import os
import shutil
import signal

import harness
import tlstest
from harness import Daemon, check_equal


def served_name(certs, port):
    """The CN of the certificate the server presents to a new client, and that client."""
    client = tlstest.tls_connect(certs.client_context(), port)
    subject = dict(item[0] for item in client.getpeercert()["subject"])
    return subject["commonName"], client


def install(certs, name):
    """Puts `name`'s certificate and key where the config points (as a renewal tool would)."""
    for ext in ("crt", "key"):
        shutil.copyfile(certs.path(f"{name}.{ext}"), certs.path(f"live.{ext}.new"))
        os.replace(certs.path(f"live.{ext}.new"), certs.path(f"live.{ext}"))


def reload_and_wait(daemon, outcome):
    since = daemon.mark()
    daemon.proc.send_signal(signal.SIGHUP)
    return daemon.wait_for_log(outcome, since=since)


def test_a_reload_serves_renewed_certificates_and_keeps_open_sessions():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.udp_socket() as receiver:
        tlstest.leaf(tmp, "renewed", "ca", "serverAuth")
        install(certs, "server")
        cfg = f"""\
listeners:
  secure:
    type: tcp
    listen: 127.0.0.1:{port}
    format: lines
    tls: {{certificate: {certs.path('live.crt')}, key: {certs.path('live.key')}, ca: {certs.path('ca.crt')}}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}, format: lines}}
routes:
  - {{from: secure, to: out}}
"""
        with Daemon(cfg, tmp) as daemon:
            name, before = served_name(certs, port)
            check_equal(name, "server", "the certificate served at start")

            install(certs, "renewed")
            reload_and_wait(daemon, r"Reloaded: listeners: 2 kept, 0 replaced")
            name, after = served_name(certs, port)
            check_equal(name, "renewed", "the certificate served after the reload")
            before.sendall(b"from the session opened before\n")
            after.sendall(b"from the new session\n")
            check_equal(sorted(harness.recv_datagrams(receiver, 2)),
                        [b"from the new session\n", b"from the session opened before\n"], "both sessions' lines")

            with open(certs.path("live.crt"), "w") as f:
                f.write("not a certificate\n")
            refused = reload_and_wait(daemon, r"Failed to reload .*; the running config stays")
            daemon.wait_for_log(rf"bad 'tls': cannot load certificate '{certs.path('live.crt')}'")
            name, third = served_name(certs, port)
            check_equal(name, "renewed", "the certificate served after a refused reload")
            for client in (before, after, third):
                client.close()
            check_equal(daemon.counters()["listeners"]["secure"]["refused"], 0, "clients refused")
            del refused


if __name__ == "__main__":
    harness.main()
