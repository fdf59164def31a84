// SPDX-License-Identifier: MIT
// mqtt listener config: accepted settings and positioned errors for every bad value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_helpers.h"

using namespace sockbridge;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

std::vector<std::string> errorsOf(const std::string &yaml) { return configErrorsOf(yaml, "mqtt.yaml"); }

}  // namespace

TEST(MqttConfig, AcceptsAFullListener)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  in: {type: udp, bind: 127.0.0.1:7000}
  mq:
    type: mqtt
    broker: "[::1]:1884"
    client_id: gw-1
    username: u
    password: p
    keepalive: 30s
    clean_session: false
    qos: 0
    retain: true
    topic: "fleet/{hostname}/{listener}/{can_id}/{kind}/{peer}"
    subscribe: ["cmd/+/set", "all/#"]
    max_inflight: 1
    format: jsonl
    spool: {path: /var/lib/sockbridge/mq, max_size: 1MiB, fsync: always}
    reconnect: {initial: 10ms, max: 1s}
    connect_timeout: 2s
routes:
  - {from: in, to: mq}
  - {from: mq, to: in}
)"),
                IsEmpty());
}

TEST(MqttConfig, ReportsEveryBadValueWithItsPosition)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  mq:
    type: mqtt
    broker: "host:99999"
    qos: 2
    topic: "fleet/{host}/x"
    subscribe: ["a/#/b", "ok/+"]
    keepalive: 1s
    spool: {path: relative, max_size: 1KiB, fsync: sometimes}
    password: secret
    format: cannelloni
)"),
                ElementsAre("mqtt.yaml:4:13: 'broker' has a bad port '99999' (1 to 65535)",
                            "mqtt.yaml:5:10: 'qos' is 2, outside 0..1",
                            "mqtt.yaml:6:12: unknown placeholder '{host}' in topic 'fleet/{host}/x' (known: {hostname}, "
                            "{listener}, {source}, {peer}, {kind}, {can_id})",
                            "mqtt.yaml:7:17: topic filter 'a/#/b': '#' must be the last level",
                            "mqtt.yaml:8:16: 'keepalive' must be between 5s and 65535s",
                            "mqtt.yaml:9:19: the spool 'path' must be an absolute directory",
                            "mqtt.yaml:9:39: the spool 'max_size' must be at least 64KiB",
                            "mqtt.yaml:9:52: 'fsync' must be one of batch, always, never, not 'sometimes'",
                            "mqtt.yaml:10:15: a password needs 'username'",
                            "mqtt.yaml:11:13: format 'cannelloni' packs many messages into one datagram; an MQTT "
                            "message carries one: use candump, jsonl or raw"));
}

TEST(MqttConfig, NeedsABrokerAndACaForTls)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  mq: {type: mqtt, tls: {verify_server: false}}
)"),
                ElementsAre("mqtt.yaml:2:7: an mqtt listener needs 'broker: HOST[:PORT]'",
                            "mqtt.yaml:2:25: 'tls' needs 'ca' or 'ca_path' to check the broker's certificate"));
}
