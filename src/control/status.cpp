// SPDX-License-Identifier: MIT
// StatusReport: status and stats as JSON, counters as Prometheus text, rates from counter deltas.
#include "control/status.h"

#include <unistd.h>

#include <fmt/core.h>

#include <map>

#include "build_config.h"
#include "core/manager.h"
#include "sinks/log_sink.h"

namespace sockbridge {

namespace {

nlohmann::json countersJson(const Counters &c)
{
    nlohmann::json out = nlohmann::json::object();
    for (const CounterField &counter : kCounterFields) out[counter.name] = c.*counter.field;
    return out;
}

nlohmann::json countersJson(const Endpoint &endpoint)
{
    nlohmann::json counters = countersJson(endpoint.counters());
    for (const auto &[key, value] : endpoint.extraCounters()) counters[key] = value;
    return counters;
}

std::string kindOf(const Manager &manager, const std::string &name)
{
    for (const auto &id : manager.applied().listeners)
        if (id.name == name) return id.kind;
    return "";
}

// A counter that went back (its listener was replaced by a reload) counts from zero.
double perSecond(uint64_t now, uint64_t before, double seconds)
{
    if (seconds <= 0) return 0;
    return double(now >= before ? now - before : now) / seconds;
}

// Label values escape backslash, double quote and newline.
std::string label(const std::string &value)
{
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

struct Metric {
    const char *name;
    const char *type;
    const char *help;
    uint64_t Counters::*field;
};

constexpr Metric kListenerMetrics[] = {
    {"messages_in_total", "counter", "Messages a listener received.", &Counters::messagesIn},
    {"bytes_in_total", "counter", "Payload bytes a listener received.", &Counters::bytesIn},
    {"messages_out_total", "counter", "Messages a listener sent.", &Counters::messagesOut},
    {"bytes_out_total", "counter", "Payload bytes a listener sent.", &Counters::bytesOut},
    {"drops_total", "counter", "Messages a listener dropped.", &Counters::drops},
    {"errors_total", "counter", "Errors on a listener's sockets.", &Counters::errors},
    {"lost_total", "counter", "Messages a peer sent that never arrived, by the format's sequence numbers.",
     &Counters::lost},
    {"kernel_drops_total", "counter", "Messages the kernel dropped before the listener read them (buffer full).",
     &Counters::kernelDrops},
    {"connects_total", "counter", "Connections a listener accepted or made.", &Counters::connects},
    {"reconnects_total", "counter", "Reconnection attempts of a connecting listener.", &Counters::reconnects},
    {"refused_total", "counter", "Peers refused by the allow list or the TLS handshake.", &Counters::refused},
};

constexpr Metric kRouteMetrics[] = {
    {"messages_in_total", "counter", "Messages offered to a route.", &Counters::messagesIn},
    {"bytes_in_total", "counter", "Payload bytes offered to a route.", &Counters::bytesIn},
    {"messages_out_total", "counter", "Messages a route's target took.", &Counters::messagesOut},
    {"bytes_out_total", "counter", "Payload bytes a route's target took.", &Counters::bytesOut},
    {"drops_total", "counter", "Messages a route's queue dropped by its overflow policy.", &Counters::drops},
};

}  // namespace

StatusReport::StatusReport(const Manager &manager)
    : manager_(manager), started_(Clock::now())
{
    samples_.push_back({started_, {}});
}

nlohmann::json StatusReport::rates(const std::string &key, const Counters &now, const Sample &base,
                                   double seconds) const
{
    Counters before;
    if (auto it = base.counters.find(key); it != base.counters.end()) before = it->second;
    return {{"messages_in", perSecond(now.messagesIn, before.messagesIn, seconds)},
            {"bytes_in", perSecond(now.bytesIn, before.bytesIn, seconds)},
            {"messages_out", perSecond(now.messagesOut, before.messagesOut, seconds)},
            {"bytes_out", perSecond(now.bytesOut, before.bytesOut, seconds)}};
}

nlohmann::json StatusReport::status(Clock::time_point now)
{
    while (samples_.size() >= 2 && now - samples_[1].at >= kMinInterval) samples_.pop_front();
    const Sample &base = samples_.front();
    const double seconds = std::chrono::duration<double>(now - base.at).count();
    nlohmann::json listeners = nlohmann::json::array();
    std::map<std::string, Counters> current;
    for (const auto &listener : manager_.listeners()) {
        const Counters &c = listener->counters();
        std::string key = "l:" + listener->name();
        const char *state = manager_.listenerDown(listener->name()) ? "down"
                            : manager_.shuttingDown()                ? "stopping"
                                                                     : "up";
        listeners.push_back({{"name", listener->name()},
                             {"kind", kindOf(manager_, listener->name())},
                             {"state", state},
                             {"describe", listener->describe()},
                             {"peers", listener->peers()},
                             {"counters", countersJson(*listener)},
                             {"rates", rates(key, c, base, seconds)}});
        current[key] = c;
    }
    nlohmann::json routes = nlohmann::json::array();
    for (const auto &route : manager_.routes()) {
        Counters c = route->counters();
        std::string key = "r:" + route->name();
        const RouteQueue &queue = route->queue();
        routes.push_back({{"name", route->name()},
                          {"from", route->source().name()},
                          {"to", route->target().name()},
                          {"counters", countersJson(c)},
                          {"rates", rates(key, c, base, seconds)},
                          {"queue",
                           {{"messages", queue.size()},
                            {"bytes", queue.bytes()},
                            {"max_messages", queue.limits().maxMessages},
                            {"max_bytes", queue.limits().maxBytes},
                            {"overflow", overflowPolicyName(queue.limits().overflow)}}}});
        current[key] = c;
    }
    nlohmann::json out = {
        {"version", SOCKBRIDGE_VERSION},
        {"pid", ::getpid()},
        {"uptime_seconds", std::chrono::duration<double>(now - started_).count()},
        {"rate_seconds", seconds},
        {"listeners", std::move(listeners)},
        {"routes", std::move(routes)},
    };
    if (now - samples_.back().at >= kSampleSpacing) samples_.push_back({now, std::move(current)});
    return out;
}

nlohmann::json StatusReport::stats() const
{
    nlohmann::json listeners = nlohmann::json::object();
    for (const auto &listener : manager_.listeners()) listeners[listener->name()] = countersJson(*listener);
    nlohmann::json routes = nlohmann::json::object();
    for (const auto &route : manager_.routes()) routes[route->name()] = countersJson(route->counters());
    nlohmann::json logs = nlohmann::json::object();
    for (const auto &[path, log] : manager_.logs()) logs[path] = countersJson(*log);
    return {{"listeners", std::move(listeners)}, {"routes", std::move(routes)}, {"logs", std::move(logs)}};
}

std::string StatusReport::prometheus() const
{
    std::string out;
    out += "# HELP sockbridge_listener_up Whether a listener is running (1) or failed to start (0).\n"
           "# TYPE sockbridge_listener_up gauge\n";
    for (const auto &listener : manager_.listeners())
        out += fmt::format("sockbridge_listener_up{{listener=\"{}\",kind=\"{}\"}} {}\n", label(listener->name()),
                           label(kindOf(manager_, listener->name())), manager_.listenerDown(listener->name()) ? 0 : 1);
    for (const Metric &m : kListenerMetrics) {
        out += fmt::format("# HELP sockbridge_listener_{} {}\n# TYPE sockbridge_listener_{} {}\n", m.name, m.help,
                           m.name, m.type);
        for (const auto &listener : manager_.listeners())
            out += fmt::format("sockbridge_listener_{}{{listener=\"{}\"}} {}\n", m.name, label(listener->name()),
                               listener->counters().*m.field);
    }
    // A kind's own counters (an mqtt spool's): one untyped metric per name, for the listeners having it.
    std::map<std::string, std::vector<std::pair<std::string, uint64_t>>> extra;
    for (const auto &listener : manager_.listeners())
        for (const auto &[key, value] : listener->extraCounters()) extra[key].emplace_back(listener->name(), value);
    for (const auto &[key, values] : extra) {
        out += fmt::format("# HELP sockbridge_listener_{} A listener kind's own counter (config/README.md).\n"
                           "# TYPE sockbridge_listener_{} untyped\n", key, key);
        for (const auto &[name, value] : values)
            out += fmt::format("sockbridge_listener_{}{{listener=\"{}\"}} {}\n", key, label(name), value);
    }
    std::vector<Counters> routeCounters;
    for (const auto &route : manager_.routes()) routeCounters.push_back(route->counters());
    for (const Metric &m : kRouteMetrics) {
        out += fmt::format("# HELP sockbridge_route_{} {}\n# TYPE sockbridge_route_{} {}\n", m.name, m.help, m.name,
                           m.type);
        for (size_t i = 0; i < routeCounters.size(); ++i)
            out += fmt::format("sockbridge_route_{}{{route=\"{}\"}} {}\n", m.name,
                               label(manager_.routes()[i]->name()), routeCounters[i].*m.field);
    }
    out += "# HELP sockbridge_route_queue_messages Messages waiting in a route's queue.\n"
           "# TYPE sockbridge_route_queue_messages gauge\n";
    for (const auto &route : manager_.routes())
        out += fmt::format("sockbridge_route_queue_messages{{route=\"{}\"}} {}\n", label(route->name()),
                           route->queue().size());
    out += "# HELP sockbridge_route_queue_bytes Payload bytes waiting in a route's queue.\n"
           "# TYPE sockbridge_route_queue_bytes gauge\n";
    for (const auto &route : manager_.routes())
        out += fmt::format("sockbridge_route_queue_bytes{{route=\"{}\"}} {}\n", label(route->name()),
                           route->queue().bytes());
    return out;
}

}  // namespace sockbridge
