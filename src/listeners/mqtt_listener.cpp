// SPDX-License-Identifier: MIT
// MqttListener: `type: mqtt` — the keys, their checks, and the spec that creates the client.
#include "listeners/mqtt_listener.h"

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "listeners/mqtt_client.h"
#include "listeners/tcp_listener.h"

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"broker", "HOST[:PORT]", "(required)", "the broker; port 1883, or 8883 with 'tls'. A name is resolved at each connect"},
    {"client_id", "string", "sockbridge-HOSTNAME-LISTENER", "the MQTT client identifier (unique per broker)"},
    {"username", "string", "", "user name for the broker"},
    {"password", "string", "", "password (needs 'username'); or 'password_file'"},
    {"password_file", "path", "", "a file whose first line is the password (read when the config is loaded)"},
    {"keepalive", "duration", "60s", "MQTT keepalive: a ping when idle; no answer within it drops the connection"},
    {"clean_session", "bool", "true", "false: the broker keeps this client's subscriptions and QoS 1 messages"},
    {"qos", "0 or 1", "1", "QoS of what is published and subscribed; 1: resent until the broker acknowledges"},
    {"retain", "bool", "false", "publish with the retain flag"},
    {"topic", "template", "sockbridge/{hostname}/{listener}",
     "publish topic; placeholders {hostname} {listener} {source} {peer} {kind} {can_id}"},
    {"subscribe", "list of filters", "[]", "topic filters (+, #) to subscribe to; only these topics are accepted"},
    {"max_inflight", "integer", "20", "messages published and not yet acknowledged (QoS 1) or written (QoS 0)"},
    {"spool", "map", "", "{path, max_size: 64MiB, fsync: batch}: store-and-forward queue on disk"},
    {"tls", "map", "", "{ca, ca_path, certificate, key, verify_server: true}: TLS to the broker (the tcp listener's names)"},
    {"reconnect", "map", "{initial: 100ms, max: 30s}", "exponential backoff with jitter, bounded by max"},
    {"connect_timeout", "duration", "10s", "a connection without the broker's CONNACK by then is retried"},
};

constexpr std::string_view kSpoolKeys[] = {"path", "max_size", "fsync"};
constexpr std::string_view kFsyncChoices[] = {"batch", "always", "never"};
constexpr std::string_view kTlsKeys[] = {"ca", "ca_path", "certificate", "key", "verify_server"};

class MqttListenerSpec final : public ListenerSpec {
public:
    MqttSettings settings;

    Transport transport() const override { return Transport::Datagram; }
    std::unique_ptr<Listener> create(EventLoop &loop) const override
    {
        return makeMqttListener(name, loop, settings, *format, formatOptions);
    }
};

// "host", "host:1883", "[::1]:1883".
bool parseBroker(OptionReader &reader, MqttSettings &settings, bool tls)
{
    auto text = reader.string("broker");
    if (!text) {
        if (!reader.has("broker")) reader.errors().add(reader.map(), "an mqtt listener needs 'broker: HOST[:PORT]'");
        return false;
    }
    std::string host = *text, port;
    if (host.starts_with('[')) {
        size_t close = host.find(']');
        if (close == std::string::npos || (close + 1 < host.size() && host[close + 1] != ':')) {
            reader.error("broker", fmt::format("'broker' must be HOST[:PORT] or [IPv6][:PORT], not '{}'", *text));
            return false;
        }
        port = close + 1 < host.size() ? host.substr(close + 2) : "";
        host = host.substr(1, close - 1);
    } else if (size_t colon = host.rfind(':'); colon != std::string::npos) {
        if (host.find(':') != colon) {
            reader.error("broker", fmt::format("an IPv6 broker address goes in brackets: '[{}]'", host));
            return false;
        }
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
    }
    settings.port = tls ? 8883 : 1883;
    if (!port.empty()) {
        char *end = nullptr;
        long value = std::strtol(port.c_str(), &end, 10);
        if (*end != '\0' || value < 1 || value > 65535) {
            reader.error("broker", fmt::format("'broker' has a bad port '{}' (1 to 65535)", port));
            return false;
        }
        settings.port = int(value);
    }
    if (host.empty()) {
        reader.error("broker", "'broker' needs a host name or address");
        return false;
    }
    settings.host = host;
    return true;
}

void parseCredentials(OptionReader &reader, MqttSettings &settings)
{
    settings.username = reader.string("username");
    if (auto password = reader.string("password")) settings.password = *password;
    if (auto file = reader.string("password_file")) {
        if (reader.has("password")) reader.error("password_file", "give either 'password' or 'password_file'");
        std::ifstream in(*file);
        std::string line;
        if (!in || !std::getline(in, line))
            reader.error("password_file", fmt::format("cannot read the password from '{}': {}", *file,
                                                      in ? "the file is empty" : std::strerror(errno)));
        else
            settings.password = line;
    }
    if (settings.password && !settings.username)
        reader.error(reader.has("password") ? "password" : "password_file", "a password needs 'username'");
}

void parseSpool(OptionReader &reader, MqttSettings &settings)
{
    YAML::Node node = reader.node("spool");
    if (!node.IsDefined()) return;
    if (!node.IsMap()) {
        reader.error("spool", "'spool' must be a map {path, max_size, fsync}");
        return;
    }
    OptionReader options(node, reader.errors(), "spool");
    options.reportUnknownKeys(kSpoolKeys);
    SpoolOptions spool;
    auto path = options.string("path");
    if (!path) {
        if (!options.has("path")) reader.errors().add(node, "'spool' needs a 'path' (a directory)");
        return;
    }
    if (path->empty() || path->front() != '/') options.error("path", "the spool 'path' must be an absolute directory");
    spool.directory = *path;
    if (auto size = options.size("max_size")) {
        if (*size < 64 * 1024)
            options.error("max_size", "the spool 'max_size' must be at least 64KiB");
        else
            spool.maxBytes = *size;
    }
    if (auto fsync = options.choice("fsync", kFsyncChoices))
        spool.sync = *fsync == "always" ? SpoolSync::Always : *fsync == "never" ? SpoolSync::Never : SpoolSync::Batch;
    settings.spool = spool;
}

bool parseTls(OptionReader &reader, MqttSettings &settings)
{
    YAML::Node node = reader.node("tls");
    if (!node.IsDefined()) return false;
    if (!node.IsMap()) {
        reader.error("tls", "'tls' must be a map {ca, ca_path, certificate, key, verify_server}");
        return true;
    }
    OptionReader options(node, reader.errors(), "tls");
    options.reportUnknownKeys(kTlsKeys);
    MqttTls tls;
    tls.caFile = options.string("ca").value_or("");
    tls.caPath = options.string("ca_path").value_or("");
    tls.certFile = options.string("certificate").value_or("");
    tls.keyFile = options.string("key").value_or("");
    tls.insecure = !options.boolean("verify_server").value_or(true);
    if (tls.caFile.empty() && tls.caPath.empty())
        reader.errors().add(node, "'tls' needs 'ca' or 'ca_path' to check the broker's certificate");
    if (tls.certFile.empty() != tls.keyFile.empty())
        reader.errors().add(node, "'tls' needs both 'certificate' and 'key' for a client certificate, or neither");
    for (auto [key, path] : {std::pair{"ca", &tls.caFile}, {"certificate", &tls.certFile}, {"key", &tls.keyFile}})
        if (!path->empty() && !std::ifstream(*path))
            options.error(key, fmt::format("cannot read '{}': {}", *path, std::strerror(errno)));
    settings.tls = tls;
    return true;
}

void parseSubscriptions(OptionReader &reader, MqttSettings &settings)
{
    YAML::Node node = reader.node("subscribe");
    if (!node.IsDefined()) return;
    std::vector<YAML::Node> items;
    if (node.IsScalar())
        items.push_back(node);
    else if (node.IsSequence())
        for (const auto &item : node) items.push_back(item);
    else
        reader.error("subscribe", "'subscribe' must be a topic filter or a list of them");
    for (const auto &item : items) {
        std::string why;
        if (!item.IsScalar())
            reader.errors().add(item, "'subscribe' must list topic filters");
        else if (!validTopicFilter(item.Scalar(), why))
            reader.errors().add(item, why);
        else
            settings.subscribe.push_back(item.Scalar());
    }
}

}  // namespace

std::span<const KeySpec> mqttListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parseMqttListener(OptionReader &reader)
{
    auto spec = std::make_unique<MqttListenerSpec>();
    MqttSettings &settings = spec->settings;
    bool tls = parseTls(reader, settings);
    bool brokerOk = parseBroker(reader, settings, tls);
    settings.clientId = reader.string("client_id").value_or("");
    if (settings.clientId.size() > 65535) reader.error("client_id", "'client_id' is longer than MQTT allows");
    parseCredentials(reader, settings);
    if (auto keepalive = reader.duration("keepalive")) {
        if (*keepalive < std::chrono::seconds(5) || *keepalive > std::chrono::seconds(65535))
            reader.error("keepalive", "'keepalive' must be between 5s and 65535s");
        else
            settings.keepalive = std::chrono::duration_cast<std::chrono::seconds>(*keepalive);
    }
    settings.cleanSession = reader.boolean("clean_session").value_or(true);
    if (auto qos = reader.integer("qos", 0, 1)) settings.qos = int(*qos);
    settings.retain = reader.boolean("retain").value_or(false);
    std::string topic = reader.string("topic").value_or("sockbridge/{hostname}/{listener}");
    std::string why;
    if (auto parsed = TopicTemplate::parse(topic, why))
        settings.topic = *parsed;
    else
        reader.error("topic", why);
    parseSubscriptions(reader, settings);
    if (auto n = reader.integer("max_inflight", 1, 65535)) settings.maxInflight = unsigned(*n);
    parseSpool(reader, settings);
    settings.backoff = parseBackoff(reader);
    if (auto timeout = reader.duration("connect_timeout")) {
        if (*timeout < std::chrono::milliseconds(100))
            reader.error("connect_timeout", "'connect_timeout' must be at least 100ms");
        else
            settings.connectTimeout = *timeout;
    }
    if (reader.has("format") && reader.node("format").IsScalar()) {
        const FormatKind *format = findFormat(reader.node("format").Scalar());
        if (format && format->makeEncoder({})->batching())
            reader.error("format", fmt::format("format '{}' packs many messages into one datagram; an MQTT message "
                                               "carries one: use candump, jsonl or raw", format->name));
    }
    return brokerOk ? std::move(spec) : nullptr;
}

}  // namespace sockbridge
