# SPDX-License-Identifier: MIT
# Without CAP_NET_RAW a packet or raw listener cannot open its socket: sockbridged says so in one
# line naming the capability and the listener, and exits non-zero (it does not run half-set-up).
# The daemon is run through setpriv (util-linux) with CAP_NET_RAW removed from its bounding set,
# so even as root it lacks the capability.
import shutil

import harness
import netns
from harness import Daemon, check, check_equal

DROP = ["setpriv", "--inh-caps=-all", "--bounding-set=-net_raw", "--"]


def run_without_net_raw(cfg, tmp, host):
    if shutil.which("setpriv") is None:
        raise harness.Skip("needs setpriv (util-linux) to drop CAP_NET_RAW")
    daemon = Daemon(cfg, tmp, wrapper=host.wrapper + DROP, expect_running=False)
    daemon.start()
    code = daemon.wait_exit()
    return daemon, code


def check_one_error(daemon, code, listener):
    check(code not in (0, None), f"exit code {code}: expected a failure")
    lines = [line for line in daemon.stderr_lines if "CAP_NET_RAW" in line]
    check_equal(len(lines), 1, f"lines naming CAP_NET_RAW; stderr:\n{daemon.stderr}")
    check(f"'{listener}'" in lines[0], f"the CAP_NET_RAW line names listener '{listener}': {lines[0]}")
    check(not daemon.log_matches(r"sockbridged \S+ running "), "it logged 'running' all the same")
    print(f"error line: {lines[0]}")
    return lines[0]


def test_packet_listener_without_cap_net_raw_fails_clearly():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b, v4=("192.0.2.1/24", "192.0.2.2/24"))
        net.up()
        cfg = f"""\
listeners:
  sniff:
    type: packet
    interface: {lb.name}
    filter: "udp"
routes:
  - from: sniff
    log: {{path: {tmp}/never.pcap, format: pcap}}
"""
        daemon, code = run_without_net_raw(cfg, tmp, b)
        check_one_error(daemon, code, "sniff")


def test_raw_listener_without_cap_net_raw_fails_clearly():
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        net.link(a, b, v4=("192.0.2.1/24", "192.0.2.2/24"))
        net.up()
        cfg = f"""\
listeners:
  pings: {{type: raw, family: ipv4, protocol: icmp}}
routes:
  - from: pings
    log: {{path: {tmp}/never.jsonl, format: packet-jsonl}}
"""
        daemon, code = run_without_net_raw(cfg, tmp, b)
        check_one_error(daemon, code, "pings")


def test_the_same_config_runs_with_the_capability():
    """The control: with CAP_NET_RAW the packet listener starts (so the failure above is the
    capability, not the config)."""
    with netns.Network() as net, harness.temp_dir() as tmp:
        a, b = net.host("a"), net.host("b")
        la, lb = net.link(a, b, v4=("192.0.2.1/24", "192.0.2.2/24"))
        net.up()
        cfg = f"""\
listeners:
  sniff:
    type: packet
    interface: {lb.name}
    filter: "udp"
routes:
  - from: sniff
    log: {{path: {tmp}/ok.pcap, format: pcap}}
"""
        with Daemon(cfg, tmp, wrapper=b.wrapper) as daemon:
            check_equal(daemon.stop(), 0, "exit code")
        check(not [line for line in daemon.stderr_lines if "CAP_NET_RAW" in line], "no capability error")


if __name__ == "__main__":
    harness.main()
