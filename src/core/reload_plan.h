// SPDX-License-Identifier: MIT
// ReloadPlan: what a reload keeps, replaces, adds and removes; a pure function of two configs.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"

namespace sockbridge {

// What identifies an applied listener, route and log: equal identities are kept on reload.
struct ListenerIdentity {
    std::string name;
    std::string kind;
    std::string canonical;   // its YAML re-emitted
    bool onDemand = false;   // per_connection target
    std::string pairedWith;  // per_connection source: the target it opens a connection to per client
    bool operator==(const ListenerIdentity &) const = default;
};

struct RouteIdentity {
    std::string name;
    std::string from;
    std::string to;       // empty for a log route
    std::string logPath;  // empty for a listener route
    QueueLimits queue;
    std::string canonical;  // every other setting (CAN rules, write): the route's YAML
    bool operator==(const RouteIdentity &other) const;
};

struct LogIdentity {
    LogSpec spec;
    bool operator==(const LogIdentity &other) const;
};

// A config as the Manager applied it (per_connection routes become pairings, not routes).
struct AppliedConfig {
    std::vector<ListenerIdentity> listeners;
    std::vector<RouteIdentity> routes;
    std::vector<LogIdentity> logs;
};

AppliedConfig describeConfig(const Config &config);

struct ReloadPlan {
    // Listener names. keep: same identity, and (for a per_connection pair) its partner kept too.
    std::set<std::string> keepListeners, replaceListeners, addListeners, removeListeners;
    // Route names: kept when the identity is equal and both ends are kept.
    std::set<std::string> keepRoutes, dropRoutes, addRoutes;
    // Log paths.
    std::set<std::string> keepLogs, closeLogs, openLogs;

    bool unchanged() const;
    std::string summary() const;  // "kept 3 listeners, replaced 1 (a), added 0, removed 0; ..."
};

ReloadPlan planReload(const AppliedConfig &current, const AppliedConfig &next);

}  // namespace sockbridge
