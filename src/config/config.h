// SPDX-License-Identifier: MIT
// The validated configuration: listener specs, routes and daemon settings.
#pragma once

#include <sys/types.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/yaml_source.h"
#include "core/can_id_rules.h"
#include "core/route_queue.h"
#include "formats/format.h"

namespace sockbridge {

class EventLoop;
class Listener;

// How a listener's socket carries messages: a byte stream needs a framing format before its
// messages can go to a datagram listener.
enum class Transport { Stream, Datagram, SeqPacket };
// Whether a stream listener accepts clients or connects out (per_connection routes need both).
enum class StreamRole { None, Accepting, Connecting };

// A listener as parsed and checked, able to open the real thing. Kinds subclass it.
class ListenerSpec {
public:
    virtual ~ListenerSpec() = default;

    std::string name;
    std::string kind;
    YAML::Mark mark;
    std::string canonical;  // the listener's YAML re-emitted, to tell changed from unchanged on reload
    const FormatKind *format = nullptr;
    FormatOptions formatOptions;
    YAML::Mark formatMark;  // where 'format' is set (the listener's position when it is not)
    bool onDemand = false;  // a connecting listener that only opens connections for per_connection routes
    bool routedFrom = false;  // some route reads from it (set by the config's route checks)
    bool routedToListener = false;  // a route takes its messages to another listener, not only to logs
    // Settings derived from the routes (a socketcand listener's buses): part of its identity on
    // reload, with `canonical`.
    std::string derived;

    // Called once every route is checked (routedFrom, routedToListener): kinds whose settings
    // depend on the routes settle them here, and put them in `derived`.
    virtual void routesKnown() {}
    // Why routes cannot send to this listener (a packet listener without 'inject'), or "".
    virtual std::string refusesInput() const { return {}; }
    std::string systemdName;  // `systemd: NAME`: take the socket passed by systemd under that FileDescriptorName=

    // Packet and raw kinds need CAP_NET_RAW; it is kept after the privilege drop only for them.
    virtual bool needsRawSockets() const { return false; }

    virtual Transport transport() const = 0;
    virtual StreamRole role() const { return StreamRole::None; }
    // True for listeners that write CAN frames to a bus: routes into them need 'write: true'.
    virtual bool writesToBus() const { return false; }
    // CAN listeners: the interface they are on ("" for 'any'); nullopt for other kinds. A
    // socketcand listener routed with them offers these buses to its clients.
    virtual std::optional<std::string> canBus() const { return std::nullopt; }
    // Why no route may have this listener as its target (a can listener on 'any'); empty: it may.
    virtual std::string targetError() const { return {}; }
    virtual std::unique_ptr<Listener> create(EventLoop &loop) const = 0;
    // A reload keeps a listener whose settings did not change; this hands it what the reload read
    // afresh all the same (tcp: the TLS certificates and keys, so that renewed files take effect
    // for new connections while the connections open go on).
    virtual void refresh(Listener &) const {}
};

// One row of the listener registry (listeners/registry.cpp).
struct ListenerKind {
    std::string_view name;
    std::string_view summary;
    std::span<const KeySpec> keys;
    // Reads the kind's own keys; the common ones (type, format, max_message) are read already.
    std::unique_ptr<ListenerSpec> (*parse)(OptionReader &reader);
};

std::span<const ListenerKind> listenerKinds();
const ListenerKind *findListenerKind(std::string_view name);
// Keys every listener accepts, whatever its kind.
std::span<const KeySpec> commonListenerKeys();

enum class LogFormat { Jsonl, Hex, Raw, Pcap, PacketJsonl, Candump };

struct LogSpec {
    std::string path;
    LogFormat format = LogFormat::Jsonl;
    uint64_t rotateSize = 0;  // 0: never rotate
    unsigned keep = 5;
};

// One route edge after expansion of lists and `bidirectional`: source → target.
struct RouteSpec {
    YAML::Mark mark;
    std::string name;  // "a->b" or "a->log:/path"
    std::string canonical;  // the route's YAML re-emitted: a reload rebuilds a route whose settings changed
    std::string from;
    std::string to;    // empty for a log route
    std::optional<LogSpec> log;
    bool perConnection = false;
    QueueLimits queue;
    // CAN: 'write: true' lets the route write to a bus; filter_ids, rewrite and allow_ids.
    bool write = false;
    CanRouteRules can;
};

struct DaemonSpec {
    std::chrono::nanoseconds shutdownTimeout = std::chrono::seconds(5);
    std::string logLevel = "info";
    // The control socket sockbridgectl talks to (docs/control.md); empty: none ("control: none").
    std::string control = "/run/sockbridge/control";
    bool controlConfigured = false;  // set in the file: failing to open it stops the daemon
    mode_t controlMode = 0660;
    std::optional<gid_t> controlGroup;  // unset: the group of `user:`/`group:` when given, else unchanged
    // Prometheus text metrics over HTTP on HOST:PORT; off when unset.
    std::optional<SocketAddress> metrics;
};

// Top-level `user:` and `group:`: who the daemon becomes once every listener is bound.
struct RunAs {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;  // `group:`, else the user's primary group
    std::string group;
};

struct Config {
    std::string file;
    std::optional<RunAs> runAs;
    std::vector<std::unique_ptr<ListenerSpec>> listeners;
    std::vector<RouteSpec> routes;
    DaemonSpec daemon;

    const ListenerSpec *findListener(std::string_view name) const;
};

// Parses and validates; throws ConfigException with every error, or a single positioned error
// when the file cannot be read or is not YAML.
Config loadConfig(const std::string &path);
Config parseConfig(const std::string &text, const std::string &file);

}  // namespace sockbridge
