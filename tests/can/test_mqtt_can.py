# SPDX-License-Identifier: MIT
# CAN frames through a real mosquitto inside the VM: vcan → mqtt publish → broker → mqtt subscribe → vcan.
#
# Runs inside the test VM (tests/vm/README.md) through tests/can/run_all.py. mosquitto comes from
# the host's root file system; its config and state live in a temporary directory.
import socket

import canlib
import harness
from canlib import CAN_EFF_FLAG, Bus
from harness import Daemon, check_equal
from mqtt_broker import Broker, Subscriber

A, B = "sbmq0", "sbmq1"


def test_can_frames_round_trip_through_the_broker_with_allow_ids():
    canlib.require_can()
    canlib.vcan(A)
    canlib.vcan(B)
    try:
        with harness.temp_dir() as tmp, Broker(tmp) as broker, \
                Subscriber(broker.port, "fleet/#") as witness:
            config = f"""\
listeners:
  cana: {{type: can, interface: {A}}}
  up: {{type: mqtt, broker: 127.0.0.1:{broker.port}, format: candump, topic: "fleet/{{hostname}}/{{listener}}/{{can_id}}"}}
  down: {{type: mqtt, broker: 127.0.0.1:{broker.port}, format: candump, subscribe: ["fleet/+/cana/#"]}}
  canb: {{type: can, interface: {B}}}
routes:
  - {{from: cana, to: up}}
  - {{from: down, to: canb, write: true, allow_ids: [0x100-0x1FF, 0x18DAF110]}}
daemon: {{control: none}}
"""
            since = broker.mark()
            sender, receiver = Bus(A), Bus(B)
            with Daemon(config, tmp) as daemon:
                daemon.wait_for_log(r"Listener 'up': connected to the broker")
                broker.wait_for_log(r"sockbridge-\S+-down 1 fleet/\+/cana/#", since=since,
                                    what="the subscription of listener 'down'")
                sender.send(0x7FF, b"\x01")                        # not in allow_ids
                sender.send(0x123, b"\xde\xad\xbe\xef")
                sender.send(0x18DAF110 | CAN_EFF_FLAG, b"\x02\x10\x03")
                check_equal(receiver.recv(), (0x123, b"\xde\xad\xbe\xef", None), "first frame on the other bus")
                check_equal(receiver.recv(), (0x18DAF110 | CAN_EFF_FLAG, b"\x02\x10\x03", None),
                            "extended frame on the other bus")
                receiver.assert_nothing()
                host = socket.gethostname()
                topics = [t for t, _ in witness.wait_messages(3)]
                check_equal(topics, [f"fleet/{host}/cana/7FF", f"fleet/{host}/cana/123",
                                     f"fleet/{host}/cana/18DAF110"], "topics")
                check_equal(daemon.stop(), 0, "exit code")
                final = daemon.final_counters()
                check_equal(final["listeners"]["up"]["messages_out"], 3, "up.messages_out")
                check_equal(final["routes"]["down->canb"]["drops"], 1, "frames refused by allow_ids")
            sender.close()
            receiver.close()
    finally:
        canlib.delete(A, B)


if __name__ == "__main__":
    harness.main()
