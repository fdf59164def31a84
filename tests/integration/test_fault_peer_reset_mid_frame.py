# SPDX-License-Identifier: MIT
# Fault injection: a TCP peer that resets (RST, SO_LINGER 0) in the middle of a length-prefixed
# frame, on the reading side and on the writing side. The half frame is never delivered, the
# daemon keeps running, and the next peer's frames arrive whole.
import socket
import struct

import harness
from harness import Daemon, check, check_equal


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def reset(sock):
    """Closes with an RST instead of a FIN: SO_LINGER on, timeout 0."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_sender_resetting_mid_frame_delivers_only_its_whole_frames():
    port_in = harness.free_tcp_port()
    receiver = harness.udp_socket()
    cfg = harness.forward_config(port_in, receiver, in_format="length-prefixed")
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        first, cut = frame(b"whole frame"), frame(b"x" * 1000)
        peer = harness.tcp_connect(port_in)
        local = peer.getsockname()[1]
        peer.sendall(first + cut[:400])
        check_equal(harness.recv_datagram(receiver), b"whole frame", "the frame before the reset")
        since = daemon.mark()
        reset(peer)
        daemon.wait_for_log(rf"Listener 'in': closing 127\.0\.0\.1:{local}: Connection reset by peer", since=since)

        # A new peer is served as if nothing happened, from a frame boundary.
        second = harness.tcp_connect(port_in)
        second.sendall(frame(b"after the reset") + frame(b""))
        check_equal(harness.recv_datagrams(receiver, 2), [b"after the reset", b""], "frames of the next peer")
        harness.assert_no_datagram(receiver)
        second.close()
        counters = daemon.counters()["listeners"]["in"]
        check_equal(counters["messages_in"], 3, "in.messages_in (the half frame is not one)")
        check_equal(counters["errors"], 1, "in.errors (the reset connection)")
        check(daemon.running(), "the daemon exited")
        check_equal(daemon.stop(), 0, "exit code")


def test_a_receiver_resetting_mid_frame_leaves_the_next_one_whole_frames():
    port_in, port_out = harness.free_tcp_port(), harness.free_tcp_port()
    cfg = harness.forward_config(port_in, port_out, in_format="length-prefixed", out_format="length-prefixed")
    big = b"y" * (60 << 10)  # under the 64 KiB message limit
    with harness.temp_dir() as tmp, Daemon(cfg, tmp) as daemon:
        since = daemon.mark()
        target = harness.tcp_connect(port_out, rcvbuf=4096)
        local = target.getsockname()[1]
        daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{local} connected", since=since)
        sender = harness.tcp_connect(port_in)
        sender.sendall(frame(big) * 4)
        # Part of the first frame, then the reset while the daemon is still writing the rest.
        check_equal(harness.recv_exactly(target, 1000)[:4], struct.pack(">I", len(big)), "length prefix")
        since = daemon.mark()
        reset(target)
        daemon.wait_for_log(rf"Listener 'out': closing 127\.0\.0\.1:{local}: Connection reset by peer",
                            since=since)

        since = daemon.mark()
        fresh = harness.tcp_connect(port_out)
        local = fresh.getsockname()[1]
        daemon.wait_for_log(rf"Listener 'out': client 127\.0\.0\.1:{local} connected", since=since)
        sender.sendall(frame(b"for the new client"))
        # Whatever the new client gets starts at a frame boundary and is made of whole frames.
        while True:
            (length,) = struct.unpack(">I", harness.recv_exactly(fresh, 4))
            payload = harness.recv_exactly(fresh, length)
            if payload == b"for the new client":
                break
            check_equal(payload, big, "a frame queued before the reset")
        sender.close()
        fresh.close()
        check(daemon.running(), "the daemon exited")
        check_equal(daemon.stop(), 0, "exit code")


if __name__ == "__main__":
    harness.main()
