# SPDX-License-Identifier: MIT
# mqtt listener against a real mosquitto: publish, subscribe, broker and daemon restarts with the spool, limits, 100 clients.
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness
import mqtt_broker
from harness import Daemon, check, check_equal
from mqtt_broker import Broker, Subscriber, first_occurrence_order


def send_udp(port, payloads, pause=0.0):
    """`pause` paces a stream (a sender's rhythm, not a wait for anything)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, ("127.0.0.1", port))
            if pause:
                time.sleep(pause)


def numbered(first, count, size=0):
    """Payloads "seq 000042" (padded with '.' to `size` bytes): the order is read back from them."""
    return [(b"seq %06d" % n).ljust(size, b".") for n in range(first, first + count)]


def sequence_numbers(messages):
    return [int(payload[4:10]) for _, payload in messages]


def mqtt_counters(daemon, name="mq"):
    return daemon.counters()["listeners"][name]


def test_check_accepts_mqtt_or_says_the_build_lacks_it():
    """With libmosquitto --check passes an mqtt config; a build without it (-Dmqtt=disabled) refuses
    the listener at its 'type', saying why."""
    with harness.temp_dir() as tmp:
        path = f"{tmp}/mqtt.yaml"
        with open(path, "w") as f:
            f.write("listeners:\n  in: {type: udp, bind: 127.0.0.1:7000}\n"
                    "  mq: {type: mqtt, broker: 127.0.0.1:1883}\nroutes:\n  - {from: in, to: mq}\n")
        result = subprocess.run([harness.BINARY, "--check", "-c", path], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=30)
        err = result.stderr.decode()
        if "built without libmosquitto" in err:
            check_equal((result.returncode, err.strip()),
                        (1, f"{path}:3:14: listener type 'mqtt' is not available: sockbridged was built without "
                            "libmosquitto (rebuild with -Dmqtt=enabled)"), "--check without libmosquitto")
            print("this build has no mqtt listener: refused as it should be")
            return
        check_equal((result.returncode, err), (0, ""), "--check of an mqtt config")


def test_udp_messages_are_published_with_their_topics_and_payloads():
    port_in = harness.free_udp_port()
    with harness.temp_dir() as tmp, Broker(tmp) as broker, \
            Subscriber(broker.port, ["fleet/#", "json/#"]) as sub:
        config = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}}}
  mq: {{type: mqtt, broker: 127.0.0.1:{broker.port}, qos: 1, topic: "fleet/{{hostname}}/{{listener}}/{{kind}}/{{can_id}}"}}
  mqj: {{type: mqtt, broker: 127.0.0.1:{broker.port}, qos: 0, format: jsonl, topic: "json/{{source}}/{{peer}}"}}
routes:
  - {{from: in, to: [mq, mqj]}}
daemon: {{control: none}}
"""
        with Daemon(config, tmp) as daemon:
            daemon.wait_for_log(r"Listener 'mq': connected to the broker 127\.0\.0\.1:\d+ as 'sockbridge-.*-mq'")
            daemon.wait_for_log(r"Listener 'mqj': connected to the broker")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.bind(("127.0.0.1", 0))
                sender_port = sender.getsockname()[1]
                payloads = [b"hello", b"\x00\x01binary\xff", b"third"]
                for p in payloads:
                    sender.sendto(p, ("127.0.0.1", port_in))
            messages = sub.wait_messages(6)
            host = socket.gethostname()
            raw = [m for m in messages if m[0].startswith("fleet/")]
            check_equal(raw, [(f"fleet/{host}/in/datagram/none", p) for p in payloads], "raw messages on fleet/#")
            js = [m for m in messages if m[0].startswith("json/")]
            check_equal([t for t, _ in js], [f"json/in/127.0.0.1:{sender_port}"] * 3, "jsonl topics")
            decoded = [json.loads(p) for _, p in js]
            check_equal([d["source"] for d in decoded], ["in"] * 3, "jsonl source")
            check_equal(decoded[0]["text"], "hello", "jsonl text of the first message")
            check_equal(daemon.stop(), 0, "exit code")
            final = daemon.final_counters()["listeners"]
            check_equal((final["mq"]["messages_out"], final["mq"]["bytes_out"]), (3, 5 + 9 + 5), "mq out counters")
            check_equal(final["mqj"]["messages_out"], 3, "mqj.messages_out")


def test_a_burst_is_published_whole_with_qos_0_and_qos_1_with_and_without_a_spool():
    """More messages at once than 'max_inflight': QoS 0 is acknowledged inside mosquitto_publish(),
    and the listener must still come back for the rest."""
    port_in = harness.free_udp_port()
    burst = 1000
    with harness.temp_dir() as tmp, Broker(tmp) as broker, Subscriber(broker.port, "burst/#") as sub:
        variants = {"q0": "qos: 0", "q1": "qos: 1", "q0spool": f"qos: 0, spool: {{path: {tmp}/s0}}",
                    "q1spool": f"qos: 1, spool: {{path: {tmp}/s1}}"}
        listeners = "\n".join(f"  {name}: {{type: mqtt, broker: 127.0.0.1:{broker.port}, topic: burst/{name}, {extra}}}"
                              for name, extra in variants.items())
        config = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}, receive_buffer: 4MiB}}
{listeners}
routes:
  - {{from: in, to: [{", ".join(variants)}], queue: {{max_messages: 10000}}}}
daemon: {{control: none}}
"""
        with Daemon(config, tmp) as daemon:
            daemon.wait_counter(lambda c: all(c["listeners"][n]["connects"] == 1 for n in variants), what="connected")
            send_udp(port_in, numbered(0, burst))
            messages = sub.wait_messages(burst * len(variants))
            for name in variants:
                check_equal(sequence_numbers([m for m in messages if m[0] == f"burst/{name}"]), list(range(burst)),
                            f"messages of {name}")
            check_equal(daemon.stop(), 0, "exit code")
            final = daemon.final_counters()["listeners"]
            check_equal([final[n]["messages_out"] for n in variants], [burst] * len(variants), "messages_out")


def test_subscribed_messages_go_to_udp_and_other_topics_do_not():
    port_out = harness.free_udp_port()
    with harness.temp_dir() as tmp, Broker(tmp) as broker, harness.udp_socket(port=port_out) as receiver:
        config = f"""\
listeners:
  mq: {{type: mqtt, broker: 127.0.0.1:{broker.port}, subscribe: ["cmd/+/set", "all/#"]}}
  out: {{type: udp, peer: 127.0.0.1:{port_out}}}
routes:
  - {{from: mq, to: out}}
daemon: {{control: none}}
"""
        since = broker.mark()
        with Daemon(config, tmp) as daemon:
            daemon.wait_for_log(r"Listener 'mq': connected to the broker")
            # mosquitto logs each subscription (log_type subscribe) once it is in place.
            broker.wait_for_log(r"sockbridge-\S+-mq 1 all/#", since=since, what="the daemon's subscriptions")
            mqtt_broker.publish(broker.port, "cmd/a/get", b"not subscribed")
            mqtt_broker.publish(broker.port, "cmd/a/set", b"set 1")
            mqtt_broker.publish(broker.port, "all/x/y", b"all 2")
            check_equal(harness.recv_datagram(receiver), b"set 1", "first datagram")
            check_equal(harness.recv_datagram(receiver), b"all 2", "second datagram")
            harness.assert_no_datagram(receiver)
            check_equal(daemon.stop(), 0, "exit code")
            mq = daemon.final_counters()["listeners"]["mq"]
            check_equal((mq["messages_in"], mq["drops"]), (2, 0), "mq messages_in and drops")


def spool_config(port_in, broker_port, spool, max_size="64MiB", name="mq"):
    return f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}, receive_buffer: 4MiB}}
  {name}: {{type: mqtt, broker: 127.0.0.1:{broker_port}, qos: 1, topic: "seq/{{listener}}",
        spool: {{path: {spool}, max_size: {max_size}}}, reconnect: {{initial: 20ms, max: 200ms}}}}
routes:
  - {{from: in, to: {name}, queue: {{max_messages: 100000, max_bytes: 64MiB}}}}
daemon: {{control: none}}
"""


def test_broker_stopped_mid_stream_every_message_arrives_in_order():
    port_in = harness.free_udp_port()
    total = 3000
    with harness.temp_dir() as tmp:
        with Broker(tmp, persistence=True) as broker, Subscriber(broker.port, "seq/#", client_id="it-seq") as sub, \
                Daemon(spool_config(port_in, broker.port, f"{tmp}/spool"), tmp) as daemon:
            daemon.wait_for_log(r"Listener 'mq': connected to the broker")
            # A steady stream, so the broker goes away with messages in flight.
            stream = threading.Thread(target=send_udp, args=(port_in, numbered(0, total), 0.0005), daemon=True)
            stream.start()
            sub.wait_messages(200, what="the first 200 messages before the broker stops")
            since = daemon.mark()
            broker.stop()
            daemon.wait_for_log(r"Listener 'mq': no connection to the broker", since=since)
            stream.join(harness.IO_TIMEOUT)
            check(not stream.is_alive(), "the sender did not finish")
            c = daemon.wait_counter(lambda c: c["listeners"]["in"]["messages_in"] == total, what="every message read")
            check(c["listeners"]["mq"]["spool_messages"] > 0, f"nothing spooled while the broker was down: {c}")
            mark = sub.mark()
            since = daemon.mark()
            broker.start()
            daemon.wait_for_log(r"Listener 'mq': connected to the broker", since=since)
            sub.wait_connected(mark)
            harness.wait_until(lambda: len(set(sequence_numbers(sub.messages()))) >= total, what="every message")
            numbers = sequence_numbers(sub.messages())
            check_equal(first_occurrence_order(numbers), list(range(total)), "sequence numbers in order of first arrival")
            daemon.wait_counter(lambda c: c["listeners"]["mq"]["spool_messages"] == 0, what="an empty spool")
            check_equal(daemon.stop(), 0, "exit code")
            mq = daemon.final_counters()["listeners"]["mq"]
            check_equal((mq["drops"], mq["spool_dropped"], mq["spooled"]), (0, 0, total), "drops, spool_dropped, spooled")
            check(mq["reconnects"] >= 1, f"mq.reconnects is {mq['reconnects']}")
            check_equal(mq["messages_out"], total, "mq.messages_out (acknowledged by the broker)")
            print(f"broker restart: {len(numbers) - total} duplicates of {total} (QoS 1: at least once)")


@contextlib.contextmanager
def stopped_broker_keeping_a_session(tmp, client_id):
    """A broker with persistence, stopped, that queues QoS 1 messages on seq/# for `client_id` once
    it is started again: a subscriber connecting later misses nothing published before it. Stopped
    again when the block ends, however it ends."""
    broker = Broker(tmp, persistence=True)
    try:
        broker.start()
        with Subscriber(broker.port, "seq/#", client_id=client_id):
            pass
        broker.stop()
        yield broker
    finally:
        broker.stop()


def test_daemon_restarts_with_a_non_empty_spool_and_delivers_everything():
    port_in = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        with stopped_broker_keeping_a_session(tmp, "it-restart") as broker:  # down while the daemon spools
            config = spool_config(port_in, broker.port, f"{tmp}/spool")
            with Daemon(config, tmp) as first:
                first.wait_for_log(r"Listener 'mq': no connection to the broker")
                send_udp(port_in, numbered(0, 200))
                first.wait_counter(lambda c: c["listeners"]["mq"]["spool_messages"] == 200, what="200 spooled")
                check_equal(first.stop(sig=signal.SIGTERM), 0, "exit code after SIGTERM")
            with Daemon(config, tmp) as second:
                second.wait_for_log(r"Listener 'mq': spool '.*' holds 200 messages")
                send_udp(port_in, numbered(200, 100))
                second.wait_counter(lambda c: c["listeners"]["mq"]["spool_messages"] == 300, what="300 spooled")
                second.kill()  # SIGKILL: nothing is flushed on the way out
            broker.start()
            with Daemon(config, tmp) as third, Subscriber(broker.port, "seq/#", client_id="it-restart") as sub:
                third.wait_for_log(r"Listener 'mq': spool '.*' holds 300 messages")
                messages = sub.wait_messages(300)
                check_equal(sequence_numbers(messages), list(range(300)), "every spooled message, once, in order")
                third.wait_counter(lambda c: c["listeners"]["mq"]["spool_messages"] == 0, what="an empty spool")
                check_equal(third.stop(), 0, "exit code")
                check_equal(third.final_counters()["listeners"]["mq"]["messages_out"], 300, "messages_out after restart")


def test_spool_limit_drops_are_counted_exactly():
    port_in = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        with stopped_broker_keeping_a_session(tmp, "it-limit") as broker:
            sent = 200
            with Daemon(spool_config(port_in, broker.port, f"{tmp}/spool", max_size="64KiB"), tmp) as daemon:
                daemon.wait_for_log(r"Listener 'mq': no connection to the broker")
                send_udp(port_in, numbered(0, sent, size=1000))
                c = daemon.wait_counter(lambda c: c["listeners"]["mq"]["spooled"] + c["listeners"]["mq"]["spool_dropped"]
                                        == sent, what="every message spooled or dropped")["listeners"]["mq"]
                kept, dropped = c["spooled"], c["spool_dropped"]
                # 64KiB holds 1018-byte records (1000 + topic + 12 bytes of framing) less segment headers.
                check(55 <= kept <= 64, f"spooled {kept} of {sent} 1000-byte messages into 64KiB")
                check_equal(c["drops"], dropped, "drops (= spool_dropped)")
                check(c["spool_bytes"] <= 64 * 1024, f"spool_bytes {c['spool_bytes']} over the limit")
                daemon.wait_for_log(r"Listener 'mq': dropping messages: the spool is full \(65536 bytes\)")
                broker.start()
                with Subscriber(broker.port, "seq/#", client_id="it-limit") as sub:
                    messages = sub.wait_messages(kept)
                    check_equal(sequence_numbers(messages), list(range(kept)), "the first messages, in order")
                    daemon.wait_counter(lambda c: c["listeners"]["mq"]["messages_out"] == kept, what="all acknowledged")
                    harness.wait_until(lambda: len(sub.messages()) >= kept, what="messages")
                check_equal(daemon.stop(), 0, "exit code")
                final = daemon.final_counters()["listeners"]["mq"]
                check_equal(final["messages_out"] + final["spool_dropped"], sent, "delivered + dropped")


def make_tls_files(tmp):
    """A CA and a broker certificate for "localhost" (openssl), and a mosquitto password file."""
    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        raise harness.Skip("needs openssl and mosquitto_passwd")
    def run(*argv):
        harness.run(list(argv))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=it-ca", "-keyout", f"{tmp}/ca.key",
        "-out", f"{tmp}/ca.pem")
    run("openssl", "req", *ec, "-subj", "/CN=localhost", "-keyout", f"{tmp}/broker.key", "-out", f"{tmp}/broker.csr")
    with open(f"{tmp}/san.ext", "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", f"{tmp}/broker.csr", "-CA", f"{tmp}/ca.pem", "-CAkey", f"{tmp}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{tmp}/san.ext", "-out", f"{tmp}/broker.pem")
    run("mosquitto_passwd", "-c", "-b", f"{tmp}/passwd", "gateway", "s3cret")
    with open(f"{tmp}/good-password", "w") as f:
        f.write("s3cret\n")
    with open(f"{tmp}/bad-password", "w") as f:
        f.write("wrong\n")


def test_tls_and_a_password_from_a_file():
    port_in = harness.free_udp_port()
    with harness.temp_dir() as tmp:
        make_tls_files(tmp)
        tls = (f"cafile {tmp}/ca.pem\ncertfile {tmp}/broker.pem\nkeyfile {tmp}/broker.key\n"
               f"allow_anonymous false\npassword_file {tmp}/passwd\n")
        with Broker(tmp, extra=tls) as broker, \
                Subscriber(broker.port, "tls/#", host="localhost",
                           extra=["--cafile", f"{tmp}/ca.pem", "-u", "gateway", "-P", "s3cret"]) as sub:
            config = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}}}
  good: {{type: mqtt, broker: "localhost:{broker.port}", tls: {{ca: {tmp}/ca.pem}}, username: gateway,
         password_file: {tmp}/good-password, topic: "tls/{{listener}}"}}
  bad: {{type: mqtt, broker: "localhost:{broker.port}", tls: {{ca: {tmp}/ca.pem}}, username: gateway,
        password_file: {tmp}/bad-password, reconnect: {{initial: 1s, max: 5s}}}}
routes:
  - {{from: in, to: [good, bad]}}
daemon: {{control: none, shutdown_timeout: 500ms}}  # 'bad' never takes its message: no wait for it
"""
            with Daemon(config, tmp) as daemon:
                daemon.wait_for_log(r"Listener 'good': connected to the broker localhost:\d+")
                daemon.wait_for_log(r"Listener 'bad': no connection to the broker localhost:\d+ \(1 attempts\): the "
                                    r"broker refused the connection: .*not authori[sz]ed")
                send_udp(port_in, [b"over tls"])
                check_equal(sub.wait_messages(1), [("tls/in", b"over tls")], "the message published over TLS")
                check_equal(daemon.stop(), 0, "exit code")
                final = daemon.final_counters()["listeners"]
                check_equal((final["good"]["messages_out"], final["bad"]["connects"]), (1, 0),
                            "good.messages_out, bad.connects")


def test_one_hundred_clients_publish_into_one_broker():
    port_in = harness.free_udp_port()
    clients, each = 100, 20
    with harness.temp_dir() as tmp, Broker(tmp) as broker, Subscriber(broker.port, "load/#") as sub:
        listeners = "\n".join(f"  mq{i}: {{type: mqtt, broker: 127.0.0.1:{broker.port}, qos: 1, "
                              f"topic: \"load/mq{i}/{{listener}}\"}}" for i in range(clients))
        config = f"""\
listeners:
  in: {{type: udp, bind: 127.0.0.1:{port_in}}}
{listeners}
routes:
  - {{from: in, to: [{", ".join(f"mq{i}" for i in range(clients))}]}}
daemon: {{control: none}}
"""
        with Daemon(config, tmp) as daemon:
            daemon.wait_counter(lambda c: all(c["listeners"][f"mq{i}"]["connects"] == 1 for i in range(clients)),
                                what="100 connected clients")
            send_udp(port_in, numbered(0, each))
            messages = sub.wait_messages(clients * each, timeout=60)
            per_topic = {}
            for topic, payload in messages:
                per_topic.setdefault(topic, []).append(int(payload[4:10]))
            check_equal(sorted(per_topic), sorted(f"load/mq{i}/in" for i in range(clients)), "topics")
            for topic, numbers in per_topic.items():
                check_equal(numbers, list(range(each)), f"messages on {topic}")
            check_equal(daemon.stop(), 0, "exit code")
            final = daemon.final_counters()["listeners"]
            check_equal(sum(final[f"mq{i}"]["messages_out"] for i in range(clients)), clients * each,
                        "messages_out over 100 clients")
        connected = {l.split(" as ")[1].split(" ")[0] for l in broker.output.lines if "New client connected" in l}
        check_equal(len([c for c in connected if c.startswith("sockbridge-")]), clients, "distinct client ids")


if __name__ == "__main__":
    harness.main()
