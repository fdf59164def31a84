# SPDX-License-Identifier: MIT
# `sockbridged --check`: shipped configs pass; broken ones give exact FILE:LINE:COL: message lines.
import glob
import os
import subprocess

import harness
from harness import TestFailure, check, check_equal


def run_check(path):
    result = subprocess.run([harness.BINARY, "--check", "-c", path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def expect_errors(tmpdir, name, text, expected):
    """--check on `text` exits 1 and prints exactly `expected` (messages after "FILE:")."""
    path = os.path.join(tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    code, out, err = run_check(path)
    lines = err.splitlines()
    want = [f"{path}:{line}" for line in expected]
    if code != 1 or lines != want:
        raise TestFailure(f"--check on {name}: exit {code}, expected 1\n--- config:\n{text}--- stderr:\n{err}"
                          f"--- expected:\n" + "\n".join(want) + f"\n--- stdout:\n{out}")


def test_shipped_configs_pass_check():
    configs = sorted(glob.glob(os.path.join(harness.SOURCE_ROOT, "config", "*.yaml")))
    failures = []
    for path in configs:
        code, out, err = run_check(path)
        if code != 0 and "built without libpcap" in err and all(
                "built without libpcap" in line for line in err.strip().splitlines()):
            # -Dpcap=disabled: the packet examples are refused for that reason alone, and say so.
            print(f"{path}: needs a libpcap build ({err.strip().splitlines()[0]})")
            continue
        if code != 0 or not out.startswith(f"{path}: OK ("):
            failures.append(f"--check {path}: exit {code}\nstdout: {out}\nstderr: {err}")
        else:
            print(out.strip())
    check(not failures, "\n".join(failures))
    print(f"checked {len(configs)} shipped configs")


def test_written_valid_config_passes_check():
    with harness.temp_dir() as tmp:
        path = os.path.join(tmp, "valid.yaml")
        with open(path, "w") as f:
            f.write("""\
listeners:
  in: {type: tcp, listen: 127.0.0.1:7000, format: lines}
  out: {type: tcp, connect: 127.0.0.1:7001, reconnect: {initial: 50ms, max: 1s}}
routes:
  - from: in
    to: out
    queue: {max_messages: 100, max_bytes: 1MiB, overflow: drop-oldest}
  - from: in
    log: {path: /tmp/x.jsonl, format: jsonl, rotate: {size: 64KiB, keep: 3}}
daemon: {shutdown_timeout: 5s}
""")
        code, out, err = run_check(path)
        check_equal((code, out, err), (0, f"{path}: OK (2 listeners, 2 routes)\n", ""), "--check on a valid config")


def test_unknown_key_suggests_the_right_one():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "unknown_key.yaml", """\
listeners:
  in:
    type: tcp
    listen: 127.0.0.1:7000
    fromat: lines
""", ["5:5: unknown key 'fromat' in listener 'in' (did you mean 'format'?)"])
        expect_errors(tmp, "unknown_route_key.yaml", """\
listeners:
  in: {type: tcp, listen: 127.0.0.1:7000}
  out: {type: tcp, connect: 127.0.0.1:7001}
routes:
  - from: in
    too: out
""", ["5:5: route has neither 'to' nor 'log'",
      "6:5: unknown key 'too' in route (did you mean 'to'?)"])


def test_wrong_type_is_named():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "wrong_type.yaml", """\
listeners:
  in:
    type: tcp
    listen: 127.0.0.1:7000
    max_clients: [1]
    nodelay: maybe
""", ["5:18: 'max_clients' must be a whole number, not a list",
      "6:14: 'nodelay' must be true or false, not 'maybe'"])
        expect_errors(tmp, "listeners_list.yaml", """\
listeners:
  - in
""", ["2:3: 'listeners' must be a map of listener names to their settings"])


def test_bad_port_is_out_of_range():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "bad_port.yaml", """\
listeners:
  in:
    type: tcp
    listen: 127.0.0.1:99999
""", ["4:13: bad address '127.0.0.1:99999' for 'listen': port 99999 is out of range (0-65535)"])


def test_duplicate_listener_name_points_at_the_first():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "duplicate.yaml", """\
listeners:
  in:
    type: tcp
    listen: 127.0.0.1:7000
  in:
    type: tcp
    listen: 127.0.0.1:7001
""", ["5:3: duplicate listener name 'in' (first defined at line 2)"])


def test_unknown_route_listener_suggests_the_right_one():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "unknown_listener.yaml", """\
listeners:
  in: {type: tcp, listen: 127.0.0.1:7000}
  out: {type: tcp, connect: 127.0.0.1:7001}
routes:
  - from: in
    to: ot
""", ["6:9: route names unknown listener 'ot' (did you mean 'out'?)"])


def test_stream_to_datagram_needs_framing():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "no_framing.yaml", """\
listeners:
  in: {type: tcp, listen: 127.0.0.1:7000}
  out: {type: udp, peer: 127.0.0.1:7001}
routes:
  - from: in
    to: out
""", ["5:5: route from stream listener 'in' to datagram listener 'out' needs a framing format on 'in' "
      "(lines, length-prefixed or jsonl): format 'raw' has no message boundaries"])


def test_listen_and_connect_conflict():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "listen_connect.yaml", """\
listeners:
  both:
    type: tcp
    listen: 127.0.0.1:7003
    connect: 127.0.0.1:7004
""", ["5:14: a tcp listener has either 'listen' or 'connect', not both"])


def test_every_error_is_reported_at_once_in_file_order():
    with harness.temp_dir() as tmp:
        expect_errors(tmp, "many.yaml", """\
listeners:
  in:
    type: tcp
    listen: 127.0.0.1:7000
    fromat: lines
  out:
    type: tcp
    listen: 127.0.0.1:99999
    max_clients: [1]
  in:
    type: tcp
    listen: 127.0.0.1:7002
  both:
    type: tcp
    listen: 127.0.0.1:7003
    connect: 127.0.0.1:7004
routes:
  - from: in
    to: ot
""", [
            "5:5: unknown key 'fromat' in listener 'in' (did you mean 'format'?)",
            "8:13: bad address '127.0.0.1:99999' for 'listen': port 99999 is out of range (0-65535)",
            "9:18: 'max_clients' must be a whole number, not a list",
            "10:3: duplicate listener name 'in' (first defined at line 2)",
            "16:14: a tcp listener has either 'listen' or 'connect', not both",
            "19:9: route names unknown listener 'ot' (did you mean 'out'?)",
        ])


def test_daemon_refuses_to_start_on_a_broken_config():
    with harness.temp_dir() as tmp:
        daemon = harness.Daemon("listeners:\n  in: {type: tcp, listen: 127.0.0.1:99999}\n", tmp,
                                expect_running=False)
        daemon.start()
        code = daemon.wait_exit()
        check_equal(code, 1, "exit code on a broken config")
        check_equal(daemon.stderr_lines,
                    [f"{daemon.config_path}:2:27: bad address '127.0.0.1:99999' for 'listen': "
                     "port 99999 is out of range (0-65535)"], "stderr")


if __name__ == "__main__":
    harness.main()
