# SPDX-License-Identifier: MIT
# CAN frames logged as pcap (LINKTYPE_CAN_SOCKETCAN, 227) inside the test VM: tshark reads the
# file back and shows each frame's id and data.
import shutil
import subprocess

import canlib
import harness
from canlib import CAN_EFF_FLAG, Bus
from harness import Daemon, Skip, check, check_equal

IF = "sbpcap0"  # this file's own interface


def test_pcap_log_of_can_frames_is_read_by_tshark():
    canlib.require_can()
    if not shutil.which("tshark"):
        raise Skip("tshark is not installed")
    canlib.vcan(IF)
    try:
        with harness.temp_dir() as tmp:
            path = f"{tmp}/bus.pcap"
            cfg = f"""\
listeners:
  bus: {{type: can, interface: {IF}}}
routes:
  - from: bus
    log: {{path: {path}, format: pcap}}
"""
            with Daemon(cfg, tmp) as daemon:
                bus = Bus(IF)
                sent = [(0x123, b"\xde\xad\xbe\xef"), (0x18DAF110 | CAN_EFF_FLAG, b"\x01\x02"), (0x7FF, b"")]
                for can_id, data in sent:
                    bus.send(can_id, data)
                bus.close()
                daemon.wait_counter(lambda c: c["routes"][f"bus->log:{path}"]["messages_out"] == len(sent),
                                    what="three frames logged")
                check_equal(daemon.stop(), 0, "exit code")
            out = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.protocols", "-e", "can.id",
                                  "-e", "can.flags.xtd", "-e", "data.data"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            check_equal(out.returncode, 0, f"tshark exit code ({out.stderr.decode().strip()})")
            rows = [line.split("\t") for line in out.stdout.decode().strip().splitlines()]
            check_equal(len(rows), len(sent), f"frames tshark read: {rows}")
            for row, (can_id, data) in zip(rows, sent):
                check("can" in row[0], f"tshark decodes the frame as CAN: {row}")
                check_equal(int(row[1], 0), can_id & 0x1FFFFFFF, f"id of {row}")  # tshark prints it in decimal
                check_equal(row[2] in ("1", "True"), bool(can_id & CAN_EFF_FLAG), f"extended flag of {row}")
                shown = row[3].replace(":", "") if len(row) > 3 else ""
                check_equal(shown, data.hex(), f"data of {row}")
    finally:
        canlib.delete(IF)


if __name__ == "__main__":
    harness.main()
