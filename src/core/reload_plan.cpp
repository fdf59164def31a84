// SPDX-License-Identifier: MIT
// ReloadPlan: the diff between the applied config and a new one, so a reload keeps what it can.
#include "core/reload_plan.h"

#include <fmt/core.h>

#include <map>

namespace sockbridge {

bool RouteIdentity::operator==(const RouteIdentity &other) const
{
    return name == other.name && from == other.from && to == other.to && logPath == other.logPath &&
           queue.maxMessages == other.queue.maxMessages && queue.maxBytes == other.queue.maxBytes &&
           queue.overflow == other.queue.overflow && canonical == other.canonical;
}

bool LogIdentity::operator==(const LogIdentity &other) const
{
    return spec.path == other.spec.path && spec.format == other.spec.format &&
           spec.rotateSize == other.spec.rotateSize && spec.keep == other.spec.keep;
}

namespace {
// Block style, keys sorted: the same settings compare equal however they were written.
void emitSorted(YAML::Emitter &out, const YAML::Node &node)
{
    if (node.IsMap()) {
        std::map<std::string, YAML::Node> sorted;
        for (auto it = node.begin(); it != node.end(); ++it) sorted.emplace(it->first.Scalar(), it->second);
        out << YAML::BeginMap;
        for (const auto &[key, value] : sorted) {
            out << YAML::Key << key << YAML::Value;
            emitSorted(out, value);
        }
        out << YAML::EndMap;
    } else if (node.IsSequence()) {
        out << YAML::BeginSeq;
        for (const auto &item : node) emitSorted(out, item);
        out << YAML::EndSeq;
    } else if (node.IsScalar()) {
        out << node.Scalar();
    } else {
        out << YAML::Null;
    }
}

std::string normalized(const std::string &canonical)
{
    try {
        YAML::Emitter out;
        emitSorted(out, YAML::Load(canonical));
        return out.c_str();
    } catch (const YAML::Exception &) {
        return canonical;
    }
}
}  // namespace

AppliedConfig describeConfig(const Config &config)
{
    AppliedConfig applied;
    std::map<std::string, std::string> pairs;
    for (const auto &route : config.routes) {
        if (!route.perConnection) continue;
        const ListenerSpec *from = config.findListener(route.from);
        if (from && from->role() == StreamRole::Accepting) pairs[route.from] = route.to;
    }
    for (const auto &spec : config.listeners) {
        ListenerIdentity id{spec->name, spec->kind, normalized(spec->canonical) + spec->derived, spec->onDemand, ""};
        if (auto it = pairs.find(spec->name); it != pairs.end()) id.pairedWith = it->second;
        applied.listeners.push_back(std::move(id));
    }
    for (const auto &route : config.routes) {
        if (route.perConnection) continue;
        applied.routes.push_back(
            {route.name, route.from, route.to, route.log ? route.log->path : "", route.queue, normalized(route.canonical)});
        if (route.log) {
            bool seen = false;
            for (const auto &log : applied.logs) seen |= log.spec.path == route.log->path;
            if (!seen) applied.logs.push_back({*route.log});
        }
    }
    return applied;
}

ReloadPlan planReload(const AppliedConfig &current, const AppliedConfig &next)
{
    ReloadPlan plan;
    std::map<std::string, const ListenerIdentity *> before, after;
    for (const auto &l : current.listeners) before[l.name] = &l;
    for (const auto &l : next.listeners) after[l.name] = &l;
    for (const auto &[name, id] : after) {
        auto it = before.find(name);
        if (it == before.end())
            plan.addListeners.insert(name);
        else if (*it->second == *id)
            plan.keepListeners.insert(name);
        else
            plan.replaceListeners.insert(name);
    }
    for (const auto &[name, id] : before)
        if (!after.count(name)) plan.removeListeners.insert(name);
    // A per_connection pair lives and goes together: its connections point at each other.
    for (bool changed = true; changed;) {
        changed = false;
        for (const auto &[name, id] : after) {
            if (id->pairedWith.empty()) continue;
            bool sourceKept = plan.keepListeners.count(name) > 0;
            bool targetKept = plan.keepListeners.count(id->pairedWith) > 0;
            if (sourceKept == targetKept) continue;
            const std::string &demoted = sourceKept ? name : id->pairedWith;
            plan.keepListeners.erase(demoted);
            plan.replaceListeners.insert(demoted);
            changed = true;
        }
    }

    std::map<std::string, const LogIdentity *> logsBefore, logsAfter;
    for (const auto &l : current.logs) logsBefore[l.spec.path] = &l;
    for (const auto &l : next.logs) logsAfter[l.spec.path] = &l;
    for (const auto &[path, id] : logsAfter) {
        auto it = logsBefore.find(path);
        if (it != logsBefore.end() && *it->second == *id)
            plan.keepLogs.insert(path);
        else
            plan.openLogs.insert(path);
    }
    for (const auto &[path, id] : logsBefore)
        if (!plan.keepLogs.count(path)) plan.closeLogs.insert(path);

    std::map<std::string, const RouteIdentity *> routesBefore;
    for (const auto &r : current.routes) routesBefore[r.name] = &r;
    std::set<std::string> keptRoutes;
    for (const auto &route : next.routes) {
        auto it = routesBefore.find(route.name);
        bool endsKept = plan.keepListeners.count(route.from) &&
                        (route.logPath.empty() ? plan.keepListeners.count(route.to) > 0
                                               : plan.keepLogs.count(route.logPath) > 0);
        if (it != routesBefore.end() && *it->second == route && endsKept)
            plan.keepRoutes.insert(route.name);
        else
            plan.addRoutes.insert(route.name);
    }
    for (const auto &route : current.routes)
        if (!plan.keepRoutes.count(route.name)) plan.dropRoutes.insert(route.name);
    return plan;
}

bool ReloadPlan::unchanged() const
{
    return replaceListeners.empty() && addListeners.empty() && removeListeners.empty() && dropRoutes.empty() &&
           addRoutes.empty() && closeLogs.empty() && openLogs.empty();
}

namespace {
std::string named(const std::set<std::string> &names)
{
    if (names.empty()) return "0";
    std::string out = fmt::format("{} (", names.size());
    bool first = true;
    for (const auto &n : names) {
        out += fmt::format("{}{}", first ? "" : ", ", n);
        first = false;
    }
    return out + ")";
}
}  // namespace

std::string ReloadPlan::summary() const
{
    return fmt::format("listeners: {} kept, {} replaced, {} added, {} removed; routes: {} kept, {} rebuilt or "
                       "added, {} dropped; logs: {} kept, {} opened, {} closed",
                       keepListeners.size(), named(replaceListeners), named(addListeners), named(removeListeners),
                       keepRoutes.size(), addRoutes.size(), dropRoutes.size(), keepLogs.size(), openLogs.size(),
                       closeLogs.size());
}

}  // namespace sockbridge
