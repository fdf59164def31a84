# SPDX-License-Identifier: MIT
# socketcand's discovery beacon: a socketcand server with `socketcand_beacon` announces itself
# over UDP as socketcand does, clients that read the beacon the way python-can's detect_beacon
# does find it and reach it, and a beacon with no route does not stop the server.
import re
import socket
import urllib.parse
import xml.etree.ElementTree as ET

import harness
import netns
from harness import Daemon, check, check_equal

A, B = "192.0.2.1", "192.0.2.2"


def parse_beacon(datagram):
    """What python-can's socketcand detect_beacon takes from a beacon (it reads 1024 bytes):
    (host, port, type, bus names)."""
    check(len(datagram) <= 1024, f"a {len(datagram)}-byte beacon: python-can reads at most 1024 bytes")
    root = ET.fromstring(datagram.decode())
    check_equal(root.tag, "CANBeacon", "the beacon's element")
    url = urllib.parse.urlparse(root.find("URL").text)
    check_equal(url.scheme, "can", "the URL's scheme")
    return url.hostname, url.port, root.attrib, [bus.attrib["name"] for bus in root.findall("Bus")]


def greeting(host, port):
    with socket.create_connection((host, port), timeout=harness.IO_TIMEOUT) as client:
        return harness.recv_exactly(client, len(b"< hi >"))


def control_status(path):
    """The daemon's status reply, as text ({"cmd": "status"} on its control socket)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
        control.settimeout(harness.IO_TIMEOUT)
        control.connect(path)
        control.sendall(b'{"cmd": "status"}\n')
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = control.recv(65536)
            check(chunk, "the control socket closed before answering")
            reply += chunk
        return reply.decode()


def test_beacon_on_loopback_leads_a_client_to_the_server():
    port = harness.free_tcp_port()
    with harness.udp_socket(host="0.0.0.0") as discovery, harness.temp_dir() as tmp:
        beacon_port = discovery.getsockname()[1]
        cfg = f"""\
listeners:
  sc:
    type: tcp
    listen: "127.0.0.1:{port}"
    format: socketcand
    socketcand_beacon: {{to: "127.255.255.255:{beacon_port}", interval: 200ms, name: bench-7, description: lab}}
"""
        with Daemon(cfg, tmp):
            first, second = harness.recv_datagrams(discovery, 2)
            check_equal(first, second, "two beats of the beacon")
            host, server_port, attrib, buses = parse_beacon(first)
            check_equal((host, server_port), ("127.0.0.1", port), "where the beacon says the server is")
            check_equal(attrib, {"name": "bench-7", "type": "SocketCAN", "description": "lab"}, "its attributes")
            check_equal(buses, [], "buses (no can listener is routed to it)")
            check_equal(greeting(host, server_port), b"< hi >", "what the announced server says first")


def test_broadcast_beacon_reaches_another_host_with_the_interface_address():
    """The server listens on every address: the beacon names the address it leaves from, which
    another host on the subnet reaches."""
    netns.require_tools()
    port = harness.free_tcp_port()
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        net.link(a, b, v4=(f"{A}/24", f"{B}/24"))
        net.up()
        with b.socket() as discovery:
            discovery.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            discovery.bind(("0.0.0.0", 42000))
            cfg = f"""\
listeners:
  sc: {{type: tcp, listen: "*:{port}", format: socketcand, socketcand_beacon: {{to: "192.0.2.255:42000"}}}}
"""
            with Daemon(cfg, tmp, wrapper=a.wrapper):
                datagram, (sender, _) = discovery.recvfrom(2048)
                host, server_port, attrib, _ = parse_beacon(datagram)
                check_equal(sender, A, "the beacon's source")
                check_equal((host, server_port), (A, port), "where the beacon says the server is")
                check_equal(attrib["type"], "SocketCAN", "the beacon's type")
                with b.entered():
                    check_equal(greeting(host, server_port), b"< hi >", "the server, reached from the other host")


def test_a_beacon_without_a_route_is_retried_and_the_server_serves():
    """In a namespace with only loopback, 255.255.255.255 has no route: a warning, once, and the
    server still answers; the failed beats are counted in its status."""
    port = harness.free_tcp_port()
    with harness.network_namespace() as ns, harness.temp_dir() as tmp:
        cfg = f"""\
listeners:
  sc: {{type: tcp, listen: "127.0.0.1:{port}", format: socketcand, socketcand_beacon: {{interval: 100ms}}}}
daemon: {{control: {tmp}/control.sock}}
"""
        with Daemon(cfg, tmp, wrapper=["ip", "netns", "exec", ns]) as daemon:
            daemon.wait_for_log(r"Listener 'sc': failed to reach 255\.255\.255\.255:42000: Network is unreachable")
            check_equal(greeting("127.0.0.1", port), b"< hi >", "the server without a beacon route")
            failed = re.compile(r"beacon to 255\.255\.255\.255:42000: 0 sent, (\d+) failed")

            def failed_beats():
                found = failed.search(control_status(f"{tmp}/control.sock"))
                return int(found.group(1)) if found else 0

            harness.wait_until(lambda: failed_beats() >= 3, what="three failed beats in the status")
            check_equal(len(daemon.log_matches(r"failed to reach")), 1, "warnings for one lasting failure")


if __name__ == "__main__":
    harness.main()
