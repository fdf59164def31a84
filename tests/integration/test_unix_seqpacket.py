# SPDX-License-Identifier: MIT
# unix seqpacket ↔ unix seqpacket: message boundaries are kept both ways, whatever the bytes hold.
import os
import socket

import harness
from harness import Daemon, TestFailure, check_equal


def seqpacket_server(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.listen(8)
    return s


def recv_packets(sock, count, timeout=harness.IO_TIMEOUT):
    sock.settimeout(timeout)
    packets = []
    while len(packets) < count:
        try:
            data = sock.recv(1 << 17)
        except socket.timeout:
            raise TestFailure(f"timed out: {len(packets)} of {count} packets; sizes {[len(p) for p in packets]}")
        if not data:
            raise TestFailure(f"EOF after {len(packets)} of {count} packets")
        packets.append(data)
    return packets


PACKETS = [b"a", b"two\nlines\n", b"\x00" * 7, bytes(range(256)), b"m" * 1000, b"big" * 10000, b"end"]


def test_message_boundaries_are_kept_both_ways():
    with harness.temp_dir() as tmp:
        in_path = os.path.join(tmp, "in.sock")
        service_path = os.path.join(tmp, "service.sock")
        with seqpacket_server(service_path) as server:
            cfg = f"""\
listeners:
  in: {{type: unix, listen: {in_path}, socket: seqpacket}}
  service: {{type: unix, connect: {service_path}, socket: seqpacket, reconnect: {{initial: 50ms, max: 1s}}}}
routes:
  - from: in
    to: service
    bidirectional: true
"""
            with Daemon(cfg, tmp) as daemon:
                upstream = harness.accept(server, what="the daemon's seqpacket connection")
                client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                client.settimeout(harness.IO_TIMEOUT)
                since = daemon.mark()
                client.connect(in_path)
                daemon.wait_for_log(r"Listener 'in': client .* connected", since=since)
                for p in PACKETS:
                    client.send(p)
                check_equal([len(p) for p in recv_packets(upstream, len(PACKETS))], [len(p) for p in PACKETS],
                            "packet sizes at the service")
                for p in PACKETS:
                    upstream.send(p[::-1])
                got = recv_packets(client, len(PACKETS))
                check_equal(got, [p[::-1] for p in PACKETS], "packets back at the client")
                # A burst: sent back to back, still one message each.
                burst = [b"%d" % i * (i % 40 + 1) for i in range(200)]
                for p in burst:
                    client.send(p)
                check_equal(recv_packets(upstream, len(burst)), burst, "burst at the service")
                client.close()
                upstream.close()
                check_equal(daemon.stop(), 0, "exit code")
                counters = daemon.final_counters()
                check_equal(counters["listeners"]["in"]["messages_in"], len(PACKETS) + len(burst), "in.messages_in")
                check_equal(counters["listeners"]["service"]["messages_in"], len(PACKETS), "service.messages_in")


def test_seqpacket_to_length_prefixed_tcp_frames_each_packet():
    port = harness.free_tcp_port()
    with harness.temp_dir() as tmp:
        in_path = os.path.join(tmp, "in.sock")
        cfg = f"""\
listeners:
  in: {{type: unix, listen: {in_path}, socket: seqpacket}}
  out: {{type: tcp, listen: 127.0.0.1:{port}, format: length-prefixed}}
routes:
  - from: in
    to: out
"""
        with Daemon(cfg, tmp) as daemon:
            since = daemon.mark()
            reader = harness.tcp_connect(port)
            daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{reader.getsockname()[1]} connected",
                                since=since)
            client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            client.settimeout(harness.IO_TIMEOUT)
            client.connect(in_path)
            for p in PACKETS:
                client.send(p)
            expected = b"".join(len(p).to_bytes(4, "big") + p for p in PACKETS)
            check_equal(harness.recv_exactly(reader, len(expected)), expected, "length-prefixed frames")
            client.close()
            reader.close()


if __name__ == "__main__":
    harness.main()
