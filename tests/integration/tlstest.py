# SPDX-License-Identifier: MIT
# Certificates for the TLS tests, made with the openssl command line: a CA, a server and a client
# certificate it signs, and a client certificate of another CA (the wrong one).
import contextlib
import os
import shutil
import socket
import ssl
import subprocess

import harness
from harness import Skip, TestFailure


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=60)
    if result.returncode != 0:
        raise TestFailure(f"openssl {' '.join(args)}: {result.stdout.decode(errors='replace')}")


def _ca(directory, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}", "-days", "2",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)


def leaf(directory, name, ca, usage):
    """A certificate `name` signed by the CA `ca`, for localhost and 127.0.0.1."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
    with open(os.path.join(directory, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\n"
                "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=directory)


def require_tls_build(directory):
    """Skips in a build without TLS, once its refusal of `tls:` is shown to be a positioned error."""
    path = os.path.join(directory, "tls-probe.yaml")
    with open(path, "w") as f:
        f.write("listeners:\n  s: {type: tcp, listen: 127.0.0.1:1, tls: {certificate: /nonexistent.crt, key: /k}}\n")
    out = harness.run([harness.BINARY, "--check", "--config", path], check_rc=False).stdout.decode()
    if "needs a sockbridge built with TLS" in out:
        harness.check_equal(out.strip(), f"{path}:2:44: 'tls' needs a sockbridge built with TLS (OpenSSL): this one "
                            "was built with -Dtls=disabled or without libssl-dev", "the refusal without TLS")
        raise Skip("sockbridged was built without TLS (its refusal of 'tls:' was checked)")
    harness.check(f"{path}:2:44: bad 'tls': cannot load certificate '/nonexistent.crt': No such file or directory"
                  in out, f"the missing certificate error: {out}")


class Certificates:
    """Files in `directory`: ca, server, client (signed by ca), stranger-ca and stranger (signed by it)."""

    def __init__(self, directory):
        require_tls_build(directory)
        if not shutil.which("openssl"):
            raise Skip("needs the openssl command line (package openssl)")
        self.dir = directory
        _ca(directory, "ca")
        _ca(directory, "stranger-ca")
        leaf(directory, "server", "ca", "serverAuth")
        leaf(directory, "client", "ca", "clientAuth")
        leaf(directory, "stranger", "stranger-ca", "clientAuth,serverAuth")

    def path(self, name):
        return os.path.join(self.dir, name)

    def client_context(self, cert="client"):
        """A python client context that trusts `ca` and presents `cert` (None: no certificate)."""
        context = ssl.create_default_context(cafile=self.path("ca.crt"))
        if cert:
            context.load_cert_chain(self.path(f"{cert}.crt"), self.path(f"{cert}.key"))
        return context


@contextlib.contextmanager
def certificates_in_temp_dir():
    """A temporary directory with the certificates made in it, for one case: (directory, Certificates)."""
    with harness.temp_dir() as tmp:
        yield tmp, Certificates(tmp)


def tls_connect(context, port, host="127.0.0.1", server_hostname="localhost"):
    raw = socket.create_connection((host, port), timeout=harness.IO_TIMEOUT)
    return context.wrap_socket(raw, server_hostname=server_hostname)


def refused_by_server(sock):
    """True once the server ends a session it refused: TLS 1.3 clients learn of a refused
    certificate only at their first read, as an alert or the connection ending."""
    try:
        return sock.recv(1) == b""
    except (ssl.SSLError, ConnectionError):
        return True
