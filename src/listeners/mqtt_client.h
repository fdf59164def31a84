// SPDX-License-Identifier: MIT
// MqttClientListener: the libmosquitto client behind `type: mqtt`, driven by the one event loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.h"
#include "core/listener.h"
#include "core/spool.h"
#include "formats/format.h"
#include "listeners/mqtt_topic.h"

namespace sockbridge {

struct MqttTls {
    std::string caFile, caPath, certFile, keyFile;
    bool insecure = false;  // no check of the broker's host name against its certificate
};

struct MqttSettings {
    std::string host;
    int port = 1883;
    std::string clientId;  // empty: "sockbridge-HOSTNAME-LISTENER"
    std::optional<std::string> username, password;
    std::chrono::seconds keepalive{60};
    bool cleanSession = true;
    int qos = 1;
    bool retain = false;
    TopicTemplate topic;
    std::vector<std::string> subscribe;  // topic filters: subscribed, and the only topics accepted
    unsigned maxInflight = 20;
    std::optional<SpoolOptions> spool;
    std::optional<MqttTls> tls;
    Backoff backoff;
    std::chrono::nanoseconds connectTimeout = std::chrono::seconds(10);
};

std::unique_ptr<Listener> makeMqttListener(std::string name, EventLoop &loop, MqttSettings settings,
                                           const FormatKind &format, const FormatOptions &options);

}  // namespace sockbridge
