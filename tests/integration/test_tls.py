# SPDX-License-Identifier: MIT
# TLS on tcp listeners: real certificates made by the openssl command line, python's ssl module and
# `openssl s_server` as peers. Data round-trips; clients without or with a wrong certificate, and
# plaintext clients, are refused and counted; the connecting side checks the server's certificate.
import contextlib
import hashlib
import os
import socket
import subprocess
import threading

import harness
import tlstest
from harness import Daemon, check, check_equal


def tls_block(certs, role="listen", verify=True, extra=""):
    if role == "listen":
        body = (f"certificate: {certs.path('server.crt')}, key: {certs.path('server.key')}, "
                f"ca: {certs.path('ca.crt')}, verify_client: {'true' if verify else 'false'}")
    else:
        body = (f"certificate: {certs.path('client.crt')}, key: {certs.path('client.key')}, "
                f"ca: {certs.path('ca.crt')}, server_name: localhost")
    return "{" + body + extra + "}"


def secure_lines_to_udp(port, receiver, tls):
    """A TLS listener of lines routed both ways with a udp listener sending to `receiver`."""
    return f"""\
listeners:
  secure: {{type: tcp, listen: 127.0.0.1:{port}, format: lines, tls: {tls}}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}, format: lines}}
routes:
  - {{from: secure, to: out, bidirectional: true}}
"""


def test_lines_round_trip_with_a_client_certificate():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.udp_socket() as receiver:
        with Daemon(secure_lines_to_udp(port, receiver, tls_block(certs)), tmp) as daemon:
            client = tlstest.tls_connect(certs.client_context(), port)
            client.sendall(b"hello over tls\nsecond line\n")
            check_equal(harness.recv_datagrams(receiver, 2), [b"hello over tls\n", b"second line\n"],
                        "lines the TLS client sent")
            daemon_port = int(daemon.wait_for_log(r"Listener 'out': bound to 127\.0\.0\.1:(\d+)").group(1))
            receiver.sendto(b"answer\n", ("127.0.0.1", daemon_port))
            check_equal(harness.recv_exactly(client, len(b"answer\n")), b"answer\n", "the reply over TLS")
            client.close()
            counters = daemon.counters()["listeners"]["secure"]
            check_equal((counters["messages_in"], counters["messages_out"], counters["refused"]), (2, 1, 0),
                        "secure: messages in, out, refused")


def test_megabytes_both_ways_through_tls_with_raw_format():
    tls_port, plain_port = harness.free_tcp_port(), harness.free_tcp_port()
    payload = os.urandom(4 << 20)
    with tlstest.certificates_in_temp_dir() as (tmp, certs):
        cfg = f"""\
listeners:
  secure: {{type: tcp, listen: 127.0.0.1:{tls_port}, tls: {tls_block(certs, verify=False)}}}
  plain: {{type: tcp, listen: 127.0.0.1:{plain_port}}}
routes:
  - {{from: secure, to: plain, bidirectional: true, queue: {{overflow: block}}}}
"""
        with Daemon(cfg, tmp) as daemon:
            plain = harness.tcp_connect(plain_port)
            daemon.wait_for_log(r"Listener 'plain': client \S+ connected")
            secure = tlstest.tls_connect(certs.client_context(cert=None), tls_port)
            daemon.wait_for_log(r"Listener 'secure': client \S+ connected")
            # Both directions at once: the TLS side's reads and writes interleave on one loop.
            got = {}
            readers = [threading.Thread(target=lambda s=s, k=k: got.__setitem__(k, harness.recv_exactly(s, len(payload))))
                       for s, k in ((plain, "plain"), (secure, "secure"))]
            for r in readers:
                r.start()
            writer = threading.Thread(target=secure.sendall, args=(payload,))
            writer.start()
            plain.sendall(payload[::-1])
            writer.join(harness.IO_TIMEOUT)
            for r in readers:
                r.join(harness.IO_TIMEOUT * 2)
            check_equal(hashlib.sha256(got.get("plain", b"")).hexdigest(), hashlib.sha256(payload).hexdigest(),
                        "what the plain side got from the TLS client")
            check_equal(hashlib.sha256(got.get("secure", b"")).hexdigest(),
                        hashlib.sha256(payload[::-1]).hexdigest(), "what the TLS client got")
            secure.close()
            plain.close()


def test_clients_without_or_with_a_wrong_certificate_are_refused_and_counted():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.udp_socket() as receiver:
        with Daemon(secure_lines_to_udp(port, receiver, tls_block(certs)), tmp) as daemon:
            for cert, why in ((None, r"peer did not return a certificate"),
                              ("stranger", r"certificate verify failed")):
                mark = daemon.mark()
                with contextlib.suppress(OSError):
                    sock = tlstest.tls_connect(certs.client_context(cert), port)
                    with contextlib.suppress(OSError):
                        sock.sendall(b"let me in\n")
                    check(tlstest.refused_by_server(sock), f"the server kept a client with certificate {cert}")
                    sock.close()
                daemon.wait_for_log(rf"Listener 'secure': refusing client 127\.0\.0\.1:\d+: the TLS handshake failed: "
                                    rf".*{why}", since=mark)
            harness.assert_no_datagram(receiver)
            counters = daemon.counters()["listeners"]["secure"]
            check_equal((counters["refused"], counters["messages_in"]), (2, 0), "secure: refused, messages in")


def test_plaintext_client_and_silent_client_are_refused_cleanly():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.udp_socket() as receiver:
        tls = tls_block(certs, verify=False, extra=", handshake_timeout: 300ms")
        with Daemon(secure_lines_to_udp(port, receiver, tls), tmp) as daemon:
            plaintext = harness.tcp_connect(port)
            plaintext.sendall(b"GET / HTTP/1.0\r\n\r\nhello\n")
            harness.recv_until_eof(plaintext)  # at most an alert, then the end
            daemon.wait_for_log(r"refusing client 127\.0\.0\.1:\d+: the TLS handshake failed: (wrong version number|"
                                r"http request|record layer failure)")
            silent = harness.tcp_connect(port)
            data, _ = harness.recv_until_eof(silent)
            check_equal(data, b"", "what a client that never said hello got")
            daemon.wait_for_log(r"refusing client 127\.0\.0\.1:\d+: no TLS handshake within 300ms")
            harness.assert_no_datagram(receiver)
            check_equal(daemon.counters()["listeners"]["secure"]["refused"], 2, "secure.refused")
            # The listener still serves TLS clients.
            good = tlstest.tls_connect(certs.client_context(cert=None), port)
            good.sendall(b"still here\n")
            check_equal(harness.recv_datagram(receiver), b"still here\n", "a TLS client's line afterwards")
            good.close()


@contextlib.contextmanager
def s_server(certs, port, ca="ca"):
    """`openssl s_server` listening (its certificate signed by `ca`), asking for a client certificate
    signed by ca; stdin goes to the client, what it receives comes out on stdout. Killed at the end."""
    name = "server" if ca == "ca" else "stranger"
    server = subprocess.Popen(["openssl", "s_server", "-quiet", "-naccept", "1", "-accept", f"127.0.0.1:{port}",
                               "-cert", certs.path(f"{name}.crt"), "-key", certs.path(f"{name}.key"),
                               "-CAfile", certs.path("ca.crt"), "-Verify", "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        harness.wait_until(lambda: harness.run(["ss", "-Htln", f"sport = :{port}"]).stdout.strip(),
                           what="s_server listening")
        yield server
    finally:
        server.kill()
        server.wait(harness.IO_TIMEOUT)


def test_connecting_side_talks_to_openssl_s_server():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.udp_socket() as receiver:
        with s_server(certs, port) as server:
            cfg = f"""\
listeners:
  upstream: {{type: tcp, connect: 127.0.0.1:{port}, format: lines, tls: {tls_block(certs, role="connect")}}}
  local: {{type: udp, bind: 127.0.0.1:0, peer: 127.0.0.1:{receiver.getsockname()[1]}, format: lines}}
routes:
  - {{from: local, to: upstream, bidirectional: true}}
"""
            with Daemon(cfg, tmp) as daemon:
                daemon.wait_for_log(r"Listener 'upstream': connected to 127\.0\.0\.1:\d+ \(TLSv1\.3, peer CN=server\)")
                server.stdin.write(b"from s_server\n")
                server.stdin.flush()
                check_equal(harness.recv_datagram(receiver), b"from s_server\n", "s_server's line")
                local_port = int(daemon.wait_for_log(r"Listener 'local' on 127\.0\.0\.1:(\d+)").group(1))
                receiver.sendto(b"to s_server\n", ("127.0.0.1", local_port))
                check_equal(server.stdout.readline(), b"to s_server\n", "what s_server received")


def test_connecting_side_refuses_a_server_with_the_wrong_certificate():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs):
        with s_server(certs, port, ca="stranger-ca"):
            cfg = f"""\
listeners:
  upstream: {{type: tcp, connect: 127.0.0.1:{port}, tls: {tls_block(certs, role="connect")}}}
"""
            with Daemon(cfg, tmp) as daemon:
                daemon.wait_for_log(r"Listener 'upstream': no connection to 127\.0\.0\.1:\d+ \(1 attempts\): the TLS "
                                    r"handshake failed: certificate verify failed \(unable to get local issuer")
                counters = daemon.counters()["listeners"]["upstream"]
                check_equal((counters["refused"], counters["connects"]), (1, 0), "upstream: refused, connects")


def test_sockbridge_to_sockbridge_over_tls_and_session_formats():
    port = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.udp_socket() as receiver:
        cfg = f"""\
listeners:
  server: {{type: tcp, listen: 127.0.0.1:{port}, format: lines, tls: {tls_block(certs)}}}
  client: {{type: tcp, connect: 127.0.0.1:{port}, format: lines, tls: {tls_block(certs, role="connect")}}}
  local: {{type: udp, bind: 127.0.0.1:0, format: lines}}
  out: {{type: udp, peer: 127.0.0.1:{receiver.getsockname()[1]}, format: lines}}
routes:
  - {{from: local, to: client}}
  - {{from: server, to: out}}
"""
        with Daemon(cfg, tmp) as daemon:
            daemon.wait_for_log(r"Listener 'client': connected to 127\.0\.0\.1:\d+ \(TLSv1\.3, peer CN=server\)")
            local_port = int(daemon.wait_for_log(r"Listener 'local' on 127\.0\.0\.1:(\d+)").group(1))
            with harness.udp_socket() as sender:
                sender.sendto(b"through two tls ends\n", ("127.0.0.1", local_port))
                check_equal(harness.recv_datagram(receiver), b"through two tls ends\n", "the line at the far end")
        # Session formats' greetings go through TLS too, first thing after the handshake; a
        # socketcand client's command gets its answer over TLS.
        socketcand = harness.free_tcp_port()
        cfg = f"""\
listeners:
  can: {{type: tcp, listen: 127.0.0.1:{port}, format: cannelloni-tcp, tls: {tls_block(certs)}}}
  sc: {{type: tcp, listen: 127.0.0.1:{socketcand}, format: socketcand, tls: {tls_block(certs)}}}
"""
        with Daemon(cfg, tmp):
            client = tlstest.tls_connect(certs.client_context(), port)
            check_equal(harness.recv_exactly(client, len(b"CANNELLONIv1")), b"CANNELLONIv1", "the greeting over TLS")
            client.close()
            client = tlstest.tls_connect(certs.client_context(), socketcand)
            check_equal(harness.recv_exactly(client, len(b"< hi >")), b"< hi >", "socketcand's greeting over TLS")
            client.sendall(b"< open vcan9 >")
            answer = b"< error could not open bus >"
            check_equal(harness.recv_exactly(client, len(answer)), answer, "the answer to a command over TLS")
            client.close()


def test_tls_terminating_port_forwarder_copies_instead_of_splicing():
    front = harness.free_tcp_port()
    with tlstest.certificates_in_temp_dir() as (tmp, certs), harness.tcp_server() as backend:
        cfg = f"""\
listeners:
  front: {{type: tcp, listen: 127.0.0.1:{front}, tls: {tls_block(certs, verify=False)}}}
  back: {{type: tcp, connect: 127.0.0.1:{backend.getsockname()[1]}}}
routes:
  - {{from: front, to: back, per_connection: true}}
"""
        request, response = os.urandom(300_000), os.urandom(200_000)
        with Daemon(cfg, tmp):
            client = tlstest.tls_connect(certs.client_context(cert=None), front)
            server = harness.accept(backend, what="the forwarded connection")
            client.sendall(request)
            check_equal(harness.recv_exactly(server, len(request)), request, "plaintext at the backend")
            server.sendall(response)
            server.shutdown(socket.SHUT_WR)
            check_equal(harness.recv_exactly(client, len(response)), response, "the response over TLS")
            client.close()
            server.close()


def test_tls_config_errors_are_positioned():
    with tlstest.certificates_in_temp_dir() as (tmp, certs):
        cfg = f"""\
listeners:
  a: {{type: tcp, listen: 127.0.0.1:1, tls: {{certificate: {certs.path('server.crt')}}}}}
  b: {{type: tcp, listen: 127.0.0.1:2, tls: {{certificate: {certs.path('server.crt')}, key: {certs.path('client.key')}}}}}
  c: {{type: tcp, listen: 127.0.0.1:3, tls: {{certificate: {certs.path('ca.key')}, key: {certs.path('server.key')}}}}}
  d: {{type: tcp, listen: 127.0.0.1:4, tls: {{certificate: {certs.path('server.crt')}, key: {certs.path('server.key')}, verify_client: true}}}}
  e: {{type: tcp, connect: 127.0.0.1:5, tls: {{min_version: "1.3"}}}}
"""
        path = os.path.join(tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        result = harness.run([harness.BINARY, "--check", "--config", path], check_rc=False)
        lines = result.stdout.decode().splitlines()
        check_equal(result.returncode, 1, "exit code")
        check_equal(len(lines), 5, f"errors: {lines}")
        check(lines[0].startswith(f"{path}:2:44: 'tls' on a listening tcp listener needs 'certificate' and 'key'"),
              lines[0])
        check(lines[1].startswith(f"{path}:3:44: bad 'tls': private key '{certs.path('client.key')}' does not match"),
              lines[1])
        check(lines[2].startswith(f"{path}:4:44: bad 'tls': cannot load certificate '{certs.path('ca.key')}'"),
              lines[2])
        check(lines[3].startswith(f"{path}:5:") and "'verify_client: true' needs 'ca'" in lines[3], lines[3])
        check(lines[4].startswith(f"{path}:6:45: 'tls' checking the server against the system's CAs needs "
                                  "'server_name' (or 'ca')"), lines[4])


if __name__ == "__main__":
    harness.main()
