// SPDX-License-Identifier: MIT
// Config parsing and validation: every error is collected with its line and column.
#include "config/config.h"

#include <grp.h>
#include <pwd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "build_config.h"
#include "config/did_you_mean.h"
#include "formats/socketcand_beacon.h"
#include "listeners/can_session_services.h"

namespace sockbridge {

namespace {

constexpr std::string_view kTopKeys[] = {"listeners", "routes", "daemon", "user", "group"};
constexpr std::string_view kRouteKeys[] = {"name",  "from",      "to",         "bidirectional", "per_connection", "queue",
                                           "log",   "write",     "allow_ids",  "filter_ids",    "rewrite"};
constexpr std::string_view kRewriteKeys[] = {"from", "to"};
constexpr std::string_view kQueueKeys[] = {"max_messages", "max_bytes", "overflow"};
constexpr std::string_view kOverflowChoices[] = {"drop-newest", "drop-oldest", "block"};
constexpr std::string_view kLogKeys[] = {"path", "format", "rotate"};
#if HAVE_PCAP
constexpr std::string_view kLogFormats[] = {"jsonl", "hex", "raw", "candump", "pcap", "packet-jsonl"};
#else
constexpr std::string_view kLogFormats[] = {"jsonl", "hex", "raw", "candump", "packet-jsonl"};
#endif
// Kinds and log formats that exist but were left out of this build: named so --check says why.
constexpr std::string_view kPcapOnly[] = {"packet", "raw", "pcap"};
constexpr std::string_view kWithoutPcap =
    "is not available: sockbridged was built without libpcap (rebuild with -Dpcap=enabled)";
constexpr std::string_view kWithoutMqtt =
    "is not available: sockbridged was built without libmosquitto (rebuild with -Dmqtt=enabled)";
constexpr std::string_view kRotateKeys[] = {"size", "keep"};
constexpr std::string_view kDaemonKeys[] = {"shutdown_timeout", "log_level", "control", "control_mode",
                                             "control_group", "metrics"};
constexpr std::string_view kLogLevels[] = {"error", "warning", "notice", "info", "debug"};
constexpr std::string_view kBeaconKeys[] = {"to", "interval", "name", "description"};

const KeySpec kCommonKeys[] = {
    {"type", "string", "(required)", "the listener kind: tcp, udp, unix, can, can-bcm, packet, raw, mqtt"},
    {"format", "string", "raw",
     "how bytes become messages: raw, lines, length-prefixed, jsonl, candump, cannelloni, cannelloni-tcp, "
     "socketcand, packet-jsonl (output only)"},
    {"max_message", "size", "64KiB", "the largest message a framing format accepts; larger input closes that client"},
    {"mtu", "size", "1472", "formats that pack many messages a datagram (cannelloni): the largest datagram"},
    {"flush_timeout", "duration", "0", "cannelloni: how long a datagram that is not full waits for more; 0: sent at the end of each pass"},
    {"socketcand_fd", "bool", "false", "socketcand: CAN FD frames as \"< fdframe >\" and \"< fdsend >\" (an extension)"},
    {"socketcand_beacon", "bool or map", "false",
     "socketcand on a listening tcp listener: announce it with socketcand's UDP discovery beacon, "
     "{to: 255.255.255.255:42000, interval: 2s, name: (host name), description: sockbridge}"},
    {"systemd", "string", "", "take the listening socket from systemd (socket activation): the FileDescriptorName= "
                              "of a .socket unit; 'listen' (udp: 'bind') still names the address in logs"},
};

bool validName(const std::string &name)
{
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

std::vector<std::string_view> keyNames(std::span<const KeySpec> a, std::span<const KeySpec> b)
{
    std::vector<std::string_view> names;
    for (const auto &k : a) names.push_back(k.name);
    for (const auto &k : b) names.push_back(k.name);
    return names;
}

class ConfigParser {
public:
    ConfigParser(Config &config, ConfigErrors &errors) : config_(config), errors_(errors) {}

    void parse(const YAML::Node &root)
    {
        if (!root.IsMap()) {
            errors_.add(root, "the config must be a map with 'listeners' and 'routes'");
            return;
        }
        OptionReader top(root, errors_, "the top level");
        top.reportUnknownKeys(kTopKeys);
        parseListeners(top);
        parseRoutes(top);
        parseDaemon(top);
        parseRunAs(top);
    }

private:
    void parseListeners(OptionReader &top)
    {
        YAML::Node listeners = top.node("listeners");
        if (!listeners.IsDefined()) {
            errors_.add(top.map(), "missing 'listeners': the config needs at least one listener");
            return;
        }
        if (!listeners.IsMap()) {
            errors_.add(listeners, "'listeners' must be a map of listener names to their settings");
            return;
        }
        for (auto it = listeners.begin(); it != listeners.end(); ++it) parseListener(it->first, it->second);
    }

    void parseListener(const YAML::Node &key, const YAML::Node &body)
    {
        const std::string name = key.Scalar();
        if (!validName(name)) {
            errors_.add(key, fmt::format("listener name '{}' may use only letters, digits, '_', '-' and '.'", name));
            return;
        }
        if (auto seen = names_.find(name); seen != names_.end()) {
            errors_.add(key, fmt::format("duplicate listener name '{}' (first defined at line {})", name,
                                         seen->second.line + 1));
            return;
        }
        names_.emplace(name, key.Mark());
        if (!body.IsMap()) {
            errors_.add(body.IsDefined() && !body.IsNull() ? body : key,
                        fmt::format("listener '{}' must be a map of settings with a 'type'", name));
            return;
        }
        OptionReader reader(body, errors_, fmt::format("listener '{}'", name));
        auto type = reader.string("type");
        if (!type) {
            if (!reader.has("type")) errors_.add(key, fmt::format("listener '{}' has no 'type'", name));
            return;
        }
        const ListenerKind *kind = findListenerKind(*type);
        if (!kind && !HAVE_PCAP && std::find(std::begin(kPcapOnly), std::end(kPcapOnly), *type) != std::end(kPcapOnly)) {
            reader.error("type", fmt::format("listener type '{}' {}", *type, kWithoutPcap));
            return;
        }
        if (!kind && !HAVE_MQTT && *type == "mqtt") {
            reader.error("type", fmt::format("listener type 'mqtt' {}", kWithoutMqtt));
            return;
        }
        if (!kind) {
            std::vector<std::string_view> kinds;
            for (const auto &k : listenerKinds()) kinds.push_back(k.name);
            std::string hint = didYouMean(*type, kinds);
            reader.error("type", fmt::format("unknown listener type '{}'{}", *type,
                                             hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
            return;
        }
        const FormatKind *format = parseFormat(reader);
        FormatOptions formatOptions;
        if (auto max = reader.size("max_message")) {
            if (*max == 0 || *max > (1u << 30))
                reader.error("max_message", "'max_message' must be between 1 byte and 1GiB");
            else
                formatOptions.maxMessage = *max;
        }
        parseBatching(reader, format, formatOptions);
        if (auto fd = reader.boolean("socketcand_fd")) {
            if (format && !format->makeSession)
                reader.error("socketcand_fd", fmt::format("'socketcand_fd' applies only to format 'socketcand', not to '{}'",
                                                          format->name));
            formatOptions.socketcandFd = *fd;
        }
        parseBeacon(reader, format, *type, formatOptions);
        std::optional<std::string> systemdName = reader.string("systemd");
        if (systemdName) {
            if (!validName(*systemdName) || systemdName->size() > 255)
                reader.error("systemd", fmt::format("'systemd' must be a FileDescriptorName= (letters, digits, '_', "
                                                    "'-', '.'), not '{}'", *systemdName));
            else if (!reader.has("listen") && !reader.has("bind"))
                reader.error("systemd", "'systemd' replaces binding 'listen' (udp: 'bind') with a socket from "
                                        "systemd; it needs that address and does not apply to 'connect'");
        }
        size_t errorsBefore = errors_.list().size();
        std::unique_ptr<ListenerSpec> spec = kind->parse(reader);
        reader.reportUnknownKeys(keyNames(kCommonKeys, kind->keys));
        if (!spec || !format || errors_.list().size() != errorsBefore) return;
        if (format->makeSession && spec->transport() == Transport::Datagram) {
            reader.error("format", fmt::format("format '{}' is a session over a connection: use it on a tcp or unix "
                                               "stream listener, not on a '{}' listener",
                                               format->name, kind->name));
            return;
        }
        spec->name = name;
        spec->kind = std::string(kind->name);
        spec->mark = key.Mark();
        spec->canonical = YAML::Dump(body);
        spec->format = format;
        spec->formatMark = reader.has("format") ? reader.markOf("format") : key.Mark();
        spec->formatOptions = formatOptions;
        if (systemdName) spec->systemdName = *systemdName;
        config_.listeners.push_back(std::move(spec));
    }

    // socketcand_beacon: true (the defaults) or a map; only where a socketcand server listens.
    void parseBeacon(OptionReader &reader, const FormatKind *format, const std::string &type, FormatOptions &options)
    {
        if (!reader.has("socketcand_beacon")) return;
        if (format && !format->announcement)
            return reader.error("socketcand_beacon", fmt::format("'socketcand_beacon' applies only to format "
                                                                 "'socketcand', not to '{}'", format->name));
        if (type != "tcp" || !reader.has("listen"))
            return reader.error("socketcand_beacon", "'socketcand_beacon' applies only to a tcp listener with "
                                                     "'listen': it announces where clients connect");
        YAML::Node node = reader.node("socketcand_beacon");
        FormatOptions::Beacon beacon;
        std::string error;
        beacon.to = *parseInetAddress(fmt::format("255.255.255.255:{}", kSocketcandBeaconPort), error);
        if (node.IsScalar()) {
            if (auto on = reader.boolean("socketcand_beacon"); on && *on) options.beacon = beacon;
            return;
        }
        if (!node.IsMap())
            return reader.error("socketcand_beacon", "'socketcand_beacon' must be true, false or a map "
                                                     "{to, interval, name, description}");
        OptionReader keys(node, reader.errors(), "socketcand_beacon");
        if (auto to = keys.inetAddress("to")) {
            if (to->port() == 0)
                keys.error("to", "'to' needs a port (socketcand's clients listen on 42000)");
            else
                beacon.to = *to;
        }
        if (auto interval = keys.duration("interval")) {
            if (*interval < std::chrono::milliseconds(100) || *interval > std::chrono::hours(1))
                keys.error("interval", "'interval' must be between 100ms and 1h (clients expect one at least "
                                       "every 3s)");
            else
                beacon.interval = std::chrono::duration_cast<std::chrono::milliseconds>(*interval);
        }
        if (auto name = keys.string("name")) beacon.name = *name;
        if (auto description = keys.string("description")) beacon.description = *description;
        keys.reportUnknownKeys(kBeaconKeys);
        options.beacon = beacon;
    }

    // mtu and flush_timeout: only for formats that pack many messages into one datagram.
    void parseBatching(OptionReader &reader, const FormatKind *format, FormatOptions &options)
    {
        const bool batches = format && format->makeEncoder(options)->batching();
        for (std::string_view key : {"mtu", "flush_timeout"})
            if (reader.has(key) && format && !batches)
                reader.error(key, fmt::format("'{}' applies only to formats that pack many messages into a datagram "
                                              "(cannelloni), not to '{}'", key, format->name));
        if (auto mtu = reader.size("mtu")) {
            if (*mtu < 80 || *mtu > 65507)
                reader.error("mtu", "'mtu' must be between 80 and 65507 bytes (the largest UDP payload)");
            else
                options.mtu = *mtu;
        }
        if (auto timeout = reader.duration("flush_timeout")) {
            if (*timeout > std::chrono::seconds(1))
                reader.error("flush_timeout", "'flush_timeout' must be at most 1s");
            else
                options.flushTimeout = *timeout;
        }
    }

    const FormatKind *parseFormat(OptionReader &reader)
    {
        auto name = reader.string("format");
        if (!name) return reader.has("format") ? nullptr : findFormat("raw");
        if (const FormatKind *format = findFormat(*name)) return format;
        std::vector<std::string_view> names;
        for (const auto &f : formatKinds()) names.push_back(f.name);
        std::string hint = didYouMean(*name, names);
        reader.error("format", fmt::format("unknown format '{}'{}", *name,
                                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
        return nullptr;
    }

    // "a" or ["a", "b"] → names, each checked against the listeners.
    std::vector<std::string> listenerNames(OptionReader &reader, std::string_view key)
    {
        std::vector<std::string> names;
        YAML::Node value = reader.node(key);
        std::vector<YAML::Node> items;
        if (value.IsScalar()) {
            items.push_back(value);
        } else if (value.IsSequence() && value.size() > 0) {
            for (const auto &item : value) items.push_back(item);
        } else {
            reader.error(key, fmt::format("'{}' must be a listener name or a list of them", key));
            return names;
        }
        for (const auto &item : items) {
            if (!item.IsScalar()) {
                errors_.add(item, fmt::format("'{}' must list listener names", key));
                continue;
            }
            const std::string &name = item.Scalar();
            if (!names_.count(name)) {
                std::vector<std::string_view> known;
                for (const auto &[n, mark] : names_) known.push_back(n);
                std::string hint = didYouMean(name, known);
                errors_.add(item, fmt::format("route names unknown listener '{}'{}", name,
                                              hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
                continue;
            }
            names.push_back(name);
        }
        return names;
    }

    void parseRoutes(OptionReader &top)
    {
        YAML::Node routes = top.node("routes");
        if (!routes.IsDefined() || routes.IsNull()) return;
        if (!routes.IsSequence()) {
            errors_.add(routes, "'routes' must be a list of routes");
            return;
        }
        for (const auto &route : routes) parseRoute(route);
    }

    void parseRoute(const YAML::Node &node)
    {
        if (!node.IsMap()) {
            errors_.add(node, "a route must be a map with 'from' and 'to' or 'log'");
            return;
        }
        OptionReader reader(node, errors_, "route");
        reader.reportUnknownKeys(kRouteKeys);
        if (!reader.has("from")) {
            errors_.add(node, "route has no 'from'");
            return;
        }
        size_t errorsBefore = errors_.list().size();
        std::vector<std::string> from = listenerNames(reader, "from");
        bool hasTo = reader.has("to"), hasLog = reader.has("log");
        if (hasTo && hasLog) reader.error("log", "a route has either 'to' or 'log', not both");
        if (!hasTo && !hasLog) errors_.add(node, "route has neither 'to' nor 'log'");
        std::vector<std::string> to = hasTo ? listenerNames(reader, "to") : std::vector<std::string>{};
        bool bidirectional = reader.boolean("bidirectional").value_or(false);
        bool perConnection = reader.boolean("per_connection").value_or(false);
        QueueLimits queue = parseQueue(reader);
        std::optional<LogSpec> log = hasLog ? parseLog(reader) : std::nullopt;
        auto name = reader.string("name");
        bool write = reader.boolean("write").value_or(false);
        CanRouteRules can = parseCanRules(reader);
        if (errors_.list().size() != errorsBefore) return;
        if (write && hasLog) reader.error("write", "'write' is for routes to CAN listeners, not to a log");
        if (can.allow && hasLog) reader.error("allow_ids", "'allow_ids' limits what a route writes to a CAN bus, not to a log");

        std::vector<RouteSpec> edges;
        if (hasLog) {
            if (bidirectional) reader.error("bidirectional", "a log route cannot be bidirectional");
            if (perConnection) reader.error("per_connection", "a log route cannot be per_connection");
            for (const auto &source : from) edges.push_back(edge(node.Mark(), source, "", log, false, queue));
            for (auto &e : edges) e.can = can;
            addEdges(std::move(edges), name, node);
            return;
        }
        if (perConnection && !checkPerConnection(reader, from, to)) return;
        for (const auto &source : from) {
            for (const auto &target : to) {
                if (source == target) {
                    reader.error("to", fmt::format("route from '{}' to itself", source));
                    continue;
                }
                edges.push_back(edge(node.Mark(), source, target, std::nullopt, perConnection, queue));
                if (bidirectional || perConnection)
                    edges.push_back(edge(node.Mark(), target, source, std::nullopt, perConnection, queue));
            }
        }
        for (auto &e : edges) {
            e.write = write;
            e.can = can;
        }
        addEdges(std::move(edges), name, node);
    }

    bool checkPerConnection(OptionReader &reader, const std::vector<std::string> &from,
                            const std::vector<std::string> &to)
    {
        if (from.size() != 1 || to.size() != 1) {
            reader.error("per_connection", "a per_connection route joins exactly one 'from' and one 'to'");
            return false;
        }
        if (reader.has("bidirectional") && !reader.node("bidirectional").as<std::string>().starts_with('t')) {
            reader.error("bidirectional", "a per_connection route is always bidirectional");
            return false;
        }
        perConnectionPairs_.push_back({reader.map().Mark(), from[0], to[0]});
        return true;
    }

    // filter_ids: [0x100-0x1FF, "!0x123"], allow_ids: [...], rewrite: {from, to} or a list of them.
    CanRouteRules parseCanRules(OptionReader &route)
    {
        CanRouteRules rules;
        if (route.has("filter_ids")) {
            for (auto &[match, negated] : canIdList(route, "filter_ids", true))
                (negated ? rules.exclude : rules.filter).push_back(match);
        }
        if (route.has("allow_ids")) {
            rules.allow.emplace();
            for (auto &[match, negated] : canIdList(route, "allow_ids", false)) rules.allow->push_back(match);
        }
        YAML::Node rewrite = route.node("rewrite");
        if (!rewrite.IsDefined()) return rules;
        std::vector<YAML::Node> items;
        if (rewrite.IsMap()) {
            items.push_back(rewrite);
        } else if (rewrite.IsSequence() && rewrite.size() > 0) {
            for (const auto &item : rewrite) items.push_back(item);
        } else {
            route.error("rewrite", "'rewrite' must be a map {from: ID or RANGE, to: ID} or a list of them");
            return rules;
        }
        for (const auto &item : items) {
            if (!item.IsMap()) {
                errors_.add(item, "each 'rewrite' must be a map {from: ID or RANGE, to: ID}");
                continue;
            }
            OptionReader reader(item, errors_, "rewrite");
            reader.reportUnknownKeys(kRewriteKeys);
            auto from = canId(reader, "from", true);
            auto to = canId(reader, "to", false);
            if (!reader.has("from") || !reader.has("to")) {
                errors_.add(item, "'rewrite' needs 'from' (an id or a range) and 'to' (the new id)");
                continue;
            }
            if (!from || !to) continue;
            uint32_t last = to->first + (from->last - from->first);
            if (last > (to->extended ? CanFrame::kEffMask : CanFrame::kSffMask)) {
                reader.error("to", fmt::format("rewriting {} to {} runs past the last {} id",
                                               from->toString(), to->toString(), to->extended ? "extended" : "standard"));
                continue;
            }
            rules.rewrites.push_back({*from, to->first, to->extended});
        }
        return rules;
    }

    std::optional<CanIdMatch> canId(OptionReader &reader, std::string_view key, bool rangeAllowed)
    {
        auto text = reader.string(key);
        if (!text) return std::nullopt;
        std::string why;
        auto match = parseCanIdMatch(*text, why);
        if (!match) {
            reader.error(key, why);
            return std::nullopt;
        }
        if (!rangeAllowed && match->first != match->last) {
            reader.error(key, fmt::format("'{}' must be one id, not a range", key));
            return std::nullopt;
        }
        return match;
    }

    // A list of ids and ranges ("!" first to exclude, where allowed), each positioned.
    std::vector<std::pair<CanIdMatch, bool>> canIdList(OptionReader &reader, std::string_view key, bool negation)
    {
        std::vector<std::pair<CanIdMatch, bool>> out;
        YAML::Node value = reader.node(key);
        std::vector<YAML::Node> items;
        if (value.IsScalar()) {
            items.push_back(value);
        } else if (value.IsSequence()) {
            for (const auto &item : value) items.push_back(item);
        } else {
            reader.error(key, fmt::format("'{}' must be a list of CAN ids and ranges (0x100-0x1FF)", key));
            return out;
        }
        for (const auto &item : items) {
            if (!item.IsScalar()) {
                errors_.add(item, fmt::format("'{}' must list CAN ids and ranges (0x100-0x1FF)", key));
                continue;
            }
            std::string_view text = item.Scalar();
            bool negated = text.starts_with('!');
            if (negated) {
                if (!negation) {
                    errors_.add(item, fmt::format("'{}' lists what may pass: '!' is for 'filter_ids'", key));
                    continue;
                }
                text.remove_prefix(1);
            }
            std::string why;
            if (auto match = parseCanIdMatch(text, why))
                out.emplace_back(*match, negated);
            else
                errors_.add(item, why);
        }
        return out;
    }

    QueueLimits parseQueue(OptionReader &route)
    {
        QueueLimits limits;
        YAML::Node node = route.node("queue");
        if (!node.IsDefined()) return limits;
        if (!node.IsMap()) {
            route.error("queue", "'queue' must be a map: {max_messages, max_bytes, overflow}");
            return limits;
        }
        OptionReader reader(node, errors_, "queue");
        reader.reportUnknownKeys(kQueueKeys);
        if (auto n = reader.integer("max_messages", 1, 100'000'000)) limits.maxMessages = size_t(*n);
        if (auto bytes = reader.size("max_bytes")) {
            if (*bytes == 0)
                reader.error("max_bytes", "'max_bytes' must be at least 1 byte");
            else
                limits.maxBytes = *bytes;
        }
        if (auto policy = reader.choice("overflow", kOverflowChoices)) {
            if (*policy == "drop-oldest") limits.overflow = OverflowPolicy::DropOldest;
            if (*policy == "block") limits.overflow = OverflowPolicy::Block;
        }
        return limits;
    }

    std::optional<LogSpec> parseLog(OptionReader &route)
    {
        YAML::Node node = route.node("log");
        if (!node.IsMap()) {
            route.error("log", "'log' must be a map: {path, format, rotate}");
            return std::nullopt;
        }
        OptionReader reader(node, errors_, "log");
        reader.reportUnknownKeys(kLogKeys);
        LogSpec spec;
        auto path = reader.string("path");
        if (!path) {
            if (!reader.has("path")) errors_.add(node, "log has no 'path'");
            return std::nullopt;
        }
        spec.path = *path;
        if (!HAVE_PCAP && reader.has("format") && reader.node("format").IsScalar() &&
            reader.node("format").Scalar() == "pcap") {
            reader.error("format", fmt::format("log format 'pcap' {}", kWithoutPcap));
        } else if (auto format = reader.choice("format", kLogFormats)) {
            spec.format = *format == "hex"            ? LogFormat::Hex
                          : *format == "raw"          ? LogFormat::Raw
                          : *format == "candump"      ? LogFormat::Candump
                          : *format == "pcap"         ? LogFormat::Pcap
                          : *format == "packet-jsonl" ? LogFormat::PacketJsonl
                                                      : LogFormat::Jsonl;
        }
        if (YAML::Node rotate = reader.node("rotate"); rotate.IsDefined()) {
            if (!rotate.IsMap()) {
                reader.error("rotate", "'rotate' must be a map: {size, keep}");
            } else {
                OptionReader rotation(rotate, errors_, "rotate");
                rotation.reportUnknownKeys(kRotateKeys);
                if (auto size = rotation.size("size")) {
                    if (*size < 4096)
                        rotation.error("size", "'size' must be at least 4KiB");
                    else
                        spec.rotateSize = *size;
                }
                if (auto keep = rotation.integer("keep", 1, 1000)) spec.keep = unsigned(*keep);
                if (!rotation.has("size")) errors_.add(rotate, "'rotate' needs a 'size'");
            }
        }
        if (auto seen = logs_.find(spec.path); seen != logs_.end()) {
            const LogSpec &other = seen->second;
            if (other.format != spec.format || other.rotateSize != spec.rotateSize || other.keep != spec.keep)
                reader.error("path", fmt::format("log '{}' is already used by another route with other settings",
                                                 spec.path));
        } else {
            logs_.emplace(spec.path, spec);
        }
        return spec;
    }

    RouteSpec edge(const YAML::Mark &mark, const std::string &from, const std::string &to,
                   const std::optional<LogSpec> &log, bool perConnection, const QueueLimits &queue)
    {
        RouteSpec spec;
        spec.mark = mark;
        spec.from = from;
        spec.to = to;
        spec.log = log;
        spec.perConnection = perConnection;
        spec.queue = queue;
        spec.name = log ? fmt::format("{}->log:{}", from, log->path) : fmt::format("{}->{}", from, to);
        return spec;
    }

    // A named route keeps its name when it makes one edge; its edges are told apart otherwise.
    void addEdges(std::vector<RouteSpec> edges, const std::optional<std::string> &name, const YAML::Node &node)
    {
        const std::string canonical = YAML::Dump(node);
        for (auto &spec : edges) {
            spec.canonical = canonical;
            if (name) spec.name = edges.size() == 1 ? *name : fmt::format("{} ({})", *name, spec.name);
            config_.routes.push_back(std::move(spec));
        }
    }

    // `user:` (a name or uid) and `group:`: looked up now, so a typo is a positioned error.
    void parseRunAs(OptionReader &top)
    {
        auto user = top.string("user");
        auto groupName = top.string("group");
        if (!user) {
            if (groupName) top.error("group", "'group' needs 'user': the daemon drops privileges to both together");
            return;
        }
        RunAs runAs;
        runAs.user = *user;
        std::vector<char> buffer(16384);
        passwd entry{};
        passwd *found = nullptr;
        bool numeric = !user->empty() && std::all_of(user->begin(), user->end(), ::isdigit) && user->size() < 10;
        int rc = numeric ? getpwuid_r(uid_t(std::stoul(*user)), &entry, buffer.data(), buffer.size(), &found)
                         : getpwnam_r(user->c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (found) {
            runAs.uid = found->pw_uid;
            runAs.gid = found->pw_gid;
            runAs.user = found->pw_name;
        } else if (numeric) {
            runAs.uid = uid_t(std::stoul(*user));
            runAs.gid = gid_t(runAs.uid);
        } else {
            top.error("user", rc == 0 || rc == ENOENT || rc == ESRCH
                                  ? fmt::format("unknown user '{}' (create it, e.g. with systemd-sysusers)", *user)
                                  : fmt::format("failed to look up user '{}': {}", *user, std::strerror(rc)));
            return;
        }
        if (groupName) {
            struct group gentry{};
            struct group *gfound = nullptr;
            bool gnumeric = !groupName->empty() && std::all_of(groupName->begin(), groupName->end(), ::isdigit) && groupName->size() < 10;
            rc = gnumeric ? getgrgid_r(gid_t(std::stoul(*groupName)), &gentry, buffer.data(), buffer.size(), &gfound)
                          : getgrnam_r(groupName->c_str(), &gentry, buffer.data(), buffer.size(), &gfound);
            if (gfound) {
                runAs.gid = gfound->gr_gid;
                runAs.group = gfound->gr_name;
            } else if (gnumeric) {
                runAs.gid = gid_t(std::stoul(*groupName));
                runAs.group = *groupName;
            } else {
                top.error("group", fmt::format("unknown group '{}'", *groupName));
                return;
            }
        }
        config_.runAs = runAs;
    }

    void parseDaemon(OptionReader &top)
    {
        YAML::Node node = top.node("daemon");
        if (!node.IsDefined()) return;
        if (!node.IsMap()) {
            top.error("daemon", "'daemon' must be a map");
            return;
        }
        OptionReader reader(node, errors_, "daemon");
        reader.reportUnknownKeys(kDaemonKeys);
        if (auto timeout = reader.duration("shutdown_timeout")) config_.daemon.shutdownTimeout = *timeout;
        if (auto level = reader.choice("log_level", kLogLevels)) config_.daemon.logLevel = *level;
        parseControl(reader);
        if (auto metrics = reader.inetAddress("metrics")) config_.daemon.metrics = *metrics;
    }

    // daemon.control, control_mode, control_group: the socket sockbridgectl talks to.
    void parseControl(OptionReader &reader)
    {
        DaemonSpec &daemon = config_.daemon;
        if (auto path = reader.string("control")) {
            daemon.controlConfigured = true;
            if (*path == "none")
                daemon.control.clear();
            else if (path->empty() || path->front() != '/' || path->size() >= sizeof(sockaddr_un::sun_path))
                reader.error("control", fmt::format("'control' must be an absolute socket path shorter than {} "
                                                    "bytes, or none, not '{}'",
                                                    sizeof(sockaddr_un::sun_path), *path));
            else
                daemon.control = *path;
        }
        if (auto text = reader.string("control_mode")) {
            std::string_view digits = *text;
            if (digits.starts_with("0o") || digits.starts_with("0O")) digits.remove_prefix(2);
            unsigned value = 0;
            bool octal = !digits.empty() && digits.size() <= 4;
            for (char c : digits) {
                octal = octal && c >= '0' && c <= '7';
                value = value * 8 + unsigned(c - '0');
            }
            if (octal)
                daemon.controlMode = mode_t(value);
            else
                reader.error("control_mode", fmt::format("'control_mode' must be an octal file mode such as \"0660\", "
                                                         "not '{}'", *text));
        }
        if (auto name = reader.string("control_group")) {
            std::vector<char> buffer(16384);
            struct group entry{};
            struct group *found = nullptr;
            bool numeric = !name->empty() && name->size() < 10 && std::all_of(name->begin(), name->end(), ::isdigit);
            if (numeric)
                daemon.controlGroup = gid_t(std::stoul(*name));
            else if (getgrnam_r(name->c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 && found)
                daemon.controlGroup = found->gr_gid;
            else
                reader.error("control_group", fmt::format("unknown group '{}' for 'control_group'", *name));
        }
    }

public:
    // Checks that need every listener parsed: transports and per_connection roles.
    void checkRoutes()
    {
        std::set<std::string> reported;  // one error per listener, however many routes name it
        for (const auto &route : config_.routes) {
            auto *source = const_cast<ListenerSpec *>(config_.findListener(route.from));
            if (source) {
                source->routedFrom = true;
                if (!route.log) source->routedToListener = true;
                if (source->format->encodeOnly && reported.insert("format:" + source->name).second)
                    errors_.add(source->formatMark,
                                fmt::format("format '{}' is output only and cannot read input, but routes read "
                                            "from listener '{}'",
                                            source->format->name, source->name));
            }
            if (route.log || route.perConnection) continue;
            const ListenerSpec *from = source;
            const ListenerSpec *to = config_.findListener(route.to);
            if (!from || !to) continue;  // the listener itself had errors, already reported
            if (std::string why = to->refusesInput(); !why.empty())
                errors_.add(route.mark, fmt::format("route to '{}': {}", to->name, why));
            if (std::string why = to->targetError(); !why.empty()) {
                errors_.add(route.mark, fmt::format("route to listener '{}': {}", to->name, why));
                continue;
            }
            if (to->writesToBus() && !route.write && writeErrors_.insert({route.mark.pos, to->name}).second)
                errors_.add(route.mark, fmt::format("route to CAN listener '{}' writes to the bus: set 'write: true'",
                                                    to->name));
            if (from->transport() == Transport::Stream && !from->format->framesStream &&
                to->transport() != Transport::Stream)
                errors_.add(route.mark,
                            fmt::format("route from stream listener '{}' to datagram listener '{}' needs a framing "
                                        "format on '{}' (lines, length-prefixed or jsonl): format '{}' has no "
                                        "message boundaries",
                                        from->name, to->name, from->name, from->format->name));
        }
        for (const auto &pair : perConnectionPairs_) checkPerConnectionPair(pair);
        offerCanBuses();
        for (auto &spec : config_.listeners) spec->routesKnown();
    }

private:
    // socketcand listeners offer the interfaces of the CAN listeners routed with them (either
    // way) as the buses a client may open. They join the listener's identity, so a reload that
    // changes them reopens it.
    void offerCanBuses()
    {
        for (auto &spec : config_.listeners) {
            if (!spec->format || !spec->format->makeSession) continue;
            std::set<std::string> buses, writable;
            bool any = false;
            for (const auto &route : config_.routes) {
                if (route.log || route.perConnection) continue;
                const std::string &other = route.from == spec->name ? route.to : route.to == spec->name ? route.from : "";
                const ListenerSpec *peer = other.empty() ? nullptr : config_.findListener(other);
                std::optional<std::string> bus = peer ? peer->canBus() : std::nullopt;
                if (!bus) continue;
                if (bus->empty())
                    any = true;
                else
                    buses.insert(*bus);
                // BCM transmit jobs go to the kernel directly: only where the route writes with
                // no id rules that they would bypass.
                if (route.to == other && route.write && route.can.empty() && !bus->empty()) writable.insert(*bus);
            }
            FormatOptions &options = spec->formatOptions;
            options.canBuses.assign(buses.begin(), buses.end());
            options.canWritableBuses.assign(writable.begin(), writable.end());
            options.anyCanBus = any;
            options.sessionServices = canSessionServices();
            spec->derived = "socketcand buses:";
            for (const auto &bus : options.canBuses) spec->derived += " " + bus;
            if (any) spec->derived += " (any)";
        }
    }

    struct PerConnectionPair {
        YAML::Mark mark;
        std::string from, to;
    };

    void checkPerConnectionPair(const PerConnectionPair &pair)
    {
        const ListenerSpec *from = config_.findListener(pair.from);
        auto *to = const_cast<ListenerSpec *>(config_.findListener(pair.to));
        if (!from || !to) return;
        if (from->role() != StreamRole::Accepting)
            errors_.add(pair.mark, fmt::format("per_connection needs 'from' to be a listening stream listener; "
                                               "'{}' is not", from->name));
        if (to->role() != StreamRole::Connecting)
            errors_.add(pair.mark, fmt::format("per_connection needs 'to' to be a connecting stream listener; "
                                               "'{}' is not", to->name));
        for (const auto &route : config_.routes) {
            if (route.perConnection || (route.from != to->name && route.to != to->name)) continue;
            errors_.add(route.mark, fmt::format("listener '{}' opens one connection per client of '{}' "
                                                "(per_connection) and cannot be in other routes",
                                                to->name, from->name));
            break;
        }
        to->onDemand = true;
    }

    Config &config_;
    ConfigErrors &errors_;
    std::map<std::string, YAML::Mark> names_;
    std::map<std::string, LogSpec> logs_;
    std::set<std::pair<int, std::string>> writeErrors_;  // (route position, target) already reported
    std::vector<PerConnectionPair> perConnectionPairs_;
};

}  // namespace

std::span<const KeySpec> commonListenerKeys() { return kCommonKeys; }

const ListenerSpec *Config::findListener(std::string_view name) const
{
    for (const auto &spec : listeners)
        if (spec->name == name) return spec.get();
    return nullptr;
}

Config parseConfig(const std::string &text, const std::string &file)
{
    ConfigErrors errors(file);
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception &e) {
        errors.add(e.mark, fmt::format("invalid YAML: {}", e.msg));
        throw ConfigException(errors.list());
    }
    Config config;
    config.file = file;
    ConfigParser parser(config, errors);
    parser.parse(root);
    if (errors.empty()) parser.checkRoutes();
    if (!errors.empty()) throw ConfigException(errors.list());
    return config;
}

Config loadConfig(const std::string &path)
{
    std::ifstream in(path);
    if (!in) {
        int err = errno;
        throw ConfigException({{path, 1, 1, fmt::format("cannot read the config: {}", std::strerror(err))}});
    }
    std::stringstream text;
    text << in.rdbuf();
    return parseConfig(text.str(), path);
}

}  // namespace sockbridge
