#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# TLS relay benchmark, sockbridge beside socat: one plain TCP stream is encrypted by one relay hop
# (plain listen -> TLS connect) and decrypted by a second (TLS listen -> plain connect), so both
# TLS directions are measured. sockbridge does both hops in one daemon, socat needs two processes;
# CPU time is the sum of the relays' own user + system time. Each figure is the median of --runs.
# Usage: bench/tls_bench.py --sockbridged build/src/sockbridged --blast build/bench/blast [--runs 3]
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile

from relay_bench import free_port, stop_relay, wait_line, wait_listening


def make_certificates(tmp):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "server.key", "-out", "server.crt", "-subj", "/CN=localhost", "-days", "1",
                    "-addext", "subjectAltName=DNS:localhost"],
                   cwd=tmp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")


def start_relays(tool, args, tmp, ports):
    crt, key = ports["crt"], ports["key"]
    if tool == "socat":
        decrypt = subprocess.Popen(["socat", "-b", "1048576",
                                    f"OPENSSL-LISTEN:{ports['tls']},bind=127.0.0.1,reuseaddr,cert={crt},key={key},"
                                    "verify=0", f"TCP:127.0.0.1:{ports['sink']}"], stderr=subprocess.DEVNULL)
        wait_listening(ports["tls"], "tcp")
        encrypt = subprocess.Popen(["socat", "-b", "1048576", f"TCP-LISTEN:{ports['front']},bind=127.0.0.1,reuseaddr",
                                    f"OPENSSL:127.0.0.1:{ports['tls']},cafile={crt},commonname=localhost"],
                                   stderr=subprocess.DEVNULL)
        wait_listening(ports["front"], "tcp")
        return [encrypt, decrypt]
    config = f"""listeners:
  front: {{type: tcp, listen: 127.0.0.1:{ports['front']}}}
  tls_out: {{type: tcp, connect: 127.0.0.1:{ports['tls']}, tls: {{ca: {crt}, server_name: localhost}}}}
  tls_in: {{type: tcp, listen: 127.0.0.1:{ports['tls']}, tls: {{certificate: {crt}, key: {key}}}}}
  back: {{type: tcp, connect: 127.0.0.1:{ports['sink']}}}
routes:
  - {{from: front, to: tls_out, per_connection: true}}
  - {{from: tls_in, to: back, per_connection: true}}
daemon: {{log_level: warning, control: none}}
"""
    path = os.path.join(tmp, "tls-bench.yaml")
    with open(path, "w") as f:
        f.write(config)
    proc = subprocess.Popen([args.sockbridged, "--config", path], stderr=subprocess.DEVNULL)
    wait_listening(ports["front"], "tcp")
    return [proc]


def run(tool, args, tmp, crt, key):
    ports = {"front": free_port(socket.SOCK_STREAM), "tls": free_port(socket.SOCK_STREAM),
             "sink": free_port(socket.SOCK_STREAM), "crt": crt, "key": key}
    sink = subprocess.Popen([args.blast, "tcp-recv", str(ports["sink"])], stdout=subprocess.PIPE, text=True)
    wait_line(sink, "ready")
    relays = start_relays(tool, args, tmp, ports)
    try:
        subprocess.run([args.blast, "tcp-send", "127.0.0.1", str(ports["front"]), str(args.bytes)], check=True)
        out, _ = sink.communicate(timeout=300)
        total, seconds = out.split()
    finally:
        cpu = sum(stop_relay(relay) for relay in relays)
    if int(total) != args.bytes:
        raise RuntimeError(f"{tool}: {total} of {args.bytes} bytes arrived")
    return int(total) / float(seconds) / 1e9, cpu / (int(total) / 1e9)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockbridged", required=True)
    parser.add_argument("--blast", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=512 << 20)
    args = parser.parse_args()
    runs = {"sockbridge": [], "socat": []}
    with tempfile.TemporaryDirectory() as tmp:
        crt, key = make_certificates(tmp)
        for _ in range(args.runs):
            for tool in runs:  # alternating, so a noisy moment hurts both alike
                runs[tool].append(run(tool, args, tmp, crt, key))
    result = {tool: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
              for tool, rs in runs.items()}
    print(f"raw runs: {runs}", file=sys.stderr)
    (s_rate, s_cpu), (o_rate, o_cpu) = result["sockbridge"], result["socat"]
    print("| benchmark | sockbridge | socat | ratio |")
    print("|---|---|---|---|")
    print(f"| plain -> TLS -> plain, {args.bytes >> 20} MiB stream (GB/s) | {s_rate:.2f} | {o_rate:.2f} "
          f"| {s_rate / o_rate:.2f} |")
    print(f"| relay CPU time per GB, both hops (s, lower is better) | {s_cpu:.2f} | {o_cpu:.2f} "
          f"| {s_cpu / o_cpu:.2f} |")


if __name__ == "__main__":
    main()
