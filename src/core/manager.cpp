// SPDX-License-Identifier: MIT
// Manager: builds listeners and routes from a Config, reloads by difference, shuts down gracefully.
#include "core/manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

#include "build_config.h"
#include "core/log.h"
#include "core/service_manager.h"
#include "core/stream_listener.h"
#include "sinks/log_sink.h"

namespace sockbridge {

namespace {
constexpr auto kStatusInterval = std::chrono::seconds(5);
// A listener that failed to start on a reload: never equal to a config's, so the next reload retries it.
constexpr std::string_view kFailedMarker = "\x01 failed to start";

int socketTypeFor(Transport transport)
{
    switch (transport) {
    case Transport::Stream: return SOCK_STREAM;
    case Transport::Datagram: return SOCK_DGRAM;
    case Transport::SeqPacket: return SOCK_SEQPACKET;
    }
    return SOCK_STREAM;
}

const char *socketTypeName(int type)
{
    return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : type == SOCK_SEQPACKET ? "seqpacket" : "other";
}

// The common counters, then the endpoint kind's own.
std::string countersJson(const Endpoint &endpoint)
{
    std::string counters = endpoint.counters().toJson();
    counters.pop_back();  // the closing brace: a kind's own counters follow
    for (const auto &[key, value] : endpoint.extraCounters()) counters += fmt::format(R"(,"{}":{})", key, value);
    return counters + "}";
}
}  // namespace

Manager::Manager(EventLoop &loop) : loop_(loop) {}

Manager::~Manager()
{
    if (suppressedReport_) setSuppressionAlarm(nullptr);
    // Routes first: they point into listeners and logs.
    routes_.clear();
}

void Manager::setup()
{
    signals_.push_back(loop_.watchSignal(SIGTERM, [this] { beginShutdown(); }));
    signals_.push_back(loop_.watchSignal(SIGINT, [this] { beginShutdown(); }));
    signals_.push_back(loop_.watchSignal(SIGUSR1, [this] { logf(LogLevel::Notice, "Counters: {}", statsJson()); }));
    signals_.push_back(loop_.watchSignal(SIGHUP, [this] {
        if (configPath_.empty())
            logf(LogLevel::Warning, "Failed to reload on SIGHUP: no config file is known, ignoring");
        else
            (void)reload(configPath_);
    }));
    ::signal(SIGPIPE, SIG_IGN);
    drainCheck_ = loop_.makeTimer([this] { checkDrained(); });
    // Rate-limited warnings held back are summed up when their window ends, even if no more come.
    suppressedReport_ = loop_.makeTimer([this] {
        if (auto next = reportSuppressed()) suppressedReport_->arm(*next);
    });
    setSuppressionAlarm([this](std::chrono::nanoseconds after) { suppressedReport_->arm(after); });
    inherited_ = takeInheritedSockets();
    if (underServiceManager()) {
        // Event-driven, so an idle daemon does not wake up: the status is republished every few
        // seconds while it changes; once it stays the same the timer rests until a message comes.
        statusTimer_ = loop_.makeTimer([this] {
            if (publishStatus())
                statusTimer_->arm(kStatusInterval);
            else
                statusResting_ = true;
        });
        // sd-event pings the watchdog from its own loop (sd_event_set_watchdog); epoll does not.
        auto interval = watchdogInterval();
        if (interval && std::string_view(loop_.name()) != "sd-event") {
            auto half = std::chrono::duration_cast<std::chrono::nanoseconds>(*interval) / 2;
            watchdogTimer_ = loop_.makeTimer([this, half] {
                notifyServiceManager("WATCHDOG=1");
                watchdogTimer_->arm(half);
            });
            watchdogTimer_->arm(half);
        }
    }
}

Listener *Manager::findListener(const std::string &name) const
{
    for (const auto &listener : listeners_)
        if (listener->name() == name) return listener.get();
    return nullptr;
}

Route *Manager::findRoute(const std::string &name) const
{
    for (const auto &route : routes_)
        if (route->name() == name) return route.get();
    return nullptr;
}

void Manager::adoptInheritedSocket(Listener &listener, const ListenerSpec &spec)
{
    auto it = inherited_.find(spec.systemdName);
    if (it == inherited_.end() || it->second.empty()) {
        std::string passed;
        for (const auto &[name, fds] : inherited_) passed += fmt::format("{}'{}'", passed.empty() ? "" : ", ", name);
        throw StartupError(fmt::format(
            "Failed to start listener '{}': systemd passed no socket named '{}' (FileDescriptorName= of its .socket "
            "unit); {}{}",
            spec.name, spec.systemdName, passed.empty() ? "no sockets were passed" : "passed: " + passed,
            HAVE_SYSTEMD ? "" : " (built without libsystemd: no socket activation)"));
    }
    if (it->second.size() > 1)
        logf(LogLevel::Warning, "Listener '{}': systemd passed {} sockets named '{}'; using the first, ignoring the rest",
             spec.name, it->second.size(), spec.systemdName);
    int original = it->second.front().get();
    int type = 0, accepting = 0;
    socklen_t length = sizeof(type);
    ::getsockopt(original, SOL_SOCKET, SO_TYPE, &type, &length);
    length = sizeof(accepting);
    ::getsockopt(original, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length);
    const int wanted = socketTypeFor(spec.transport());
    if (type != wanted)
        throw StartupError(fmt::format("Failed to start listener '{}': the socket '{}' from systemd is a {} socket, "
                                       "the listener needs a {} one",
                                       spec.name, spec.systemdName, socketTypeName(type), socketTypeName(wanted)));
    if (wanted != SOCK_DGRAM && !accepting)
        throw StartupError(fmt::format("Failed to start listener '{}': the socket '{}' from systemd is not listening "
                                       "(the .socket unit needs Accept=no)",
                                       spec.name, spec.systemdName));
    UniqueFd copy(::fcntl(original, F_DUPFD_CLOEXEC, 3));
    if (!copy)
        throw StartupError(fmt::format("Failed to start listener '{}': cannot duplicate the socket from systemd: {}",
                                       spec.name, std::strerror(errno)));
    listener.adoptSocket(std::move(copy));
}

// Routes a reload does not keep: their targets take what they can now; what is still queued goes
// to the route of the same name in the new config when its target is the same endpoint, and is
// counted as dropped otherwise.
void Manager::retireRoutes(const ReloadPlan &plan)
{
    for (auto it = routes_.begin(); it != routes_.end();) {
        Route &route = **it;
        if (plan.keepRoutes.count(route.name())) {
            ++it;
            continue;
        }
        route.target().drainNow();
        retiredDrops_ += route.queue().drops();
        if (!route.queue().empty()) {
            size_t left = route.queue().size();
            retiredDrops_ += left;
            route.target().counters().drops += left;
            logf(LogLevel::Warning, LogFields{.route = route.name()},
                 "Route '{}': {} queued messages dropped by the reload (the route, its source or its target changed)",
                 route.name(), left);
        }
        it = routes_.erase(it);
    }
}

void Manager::rebuildRouteIndex()
{
    routesFrom_.clear();
    for (const auto &route : routes_) routesFrom_[&route->source()].push_back(route.get());
}

void Manager::apply(const Config &config)
{
    AppliedConfig next = describeConfig(config);
    const ReloadPlan plan = planReload(applied_, next);
    shutdownTimeout_ = config.daemon.shutdownTimeout;

    // Messages still queued on a route the new config rebuilds with the same target are carried over.
    struct Carried {
        Endpoint *target;
        std::deque<MessagePtr> messages;
    };
    std::map<std::string, Carried> carried;
    for (const auto &route : routes_) {
        if (plan.keepRoutes.count(route->name())) continue;
        route->target().drainNow();
        const std::string &targetName = route->target().name();
        bool targetStays = plan.keepListeners.count(targetName) ||
                           (targetName.starts_with("log:") && plan.keepLogs.count(targetName.substr(4)));
        if (!targetStays || !plan.addRoutes.count(route->name())) continue;
        Carried &c = carried[route->name()];
        c.target = &route->target();
        while (!route->queue().empty()) c.messages.push_back(route->queue().pop());
    }
    retireRoutes(plan);

    // Removed and replaced listeners go before any new one binds: a unix path is free again.
    for (auto it = listeners_.begin(); it != listeners_.end();) {
        const std::string &name = (*it)->name();
        if (plan.keepListeners.count(name)) {
            ++it;
            continue;
        }
        if (started_)
            logf(LogLevel::Info, LogFields{.listener = name}, "Listener '{}' {} by the reload ({})", name,
                 plan.removeListeners.count(name) ? "removed" : "replaced", (*it)->describe());
        down_.erase(name);
        it = listeners_.erase(it);
    }
    for (auto it = logs_.begin(); it != logs_.end();) {
        if (plan.keepLogs.count(it->first)) {
            ++it;
            continue;
        }
        it->second->close();
        it = logs_.erase(it);
    }

    // New listeners, in config order with the kept ones.
    std::vector<std::unique_ptr<Listener>> ordered;
    std::vector<Listener *> fresh;
    for (const auto &spec : config.listeners) {
        auto kept = std::find_if(listeners_.begin(), listeners_.end(),
                                 [&](const auto &l) { return l && l->name() == spec->name; });
        if (kept != listeners_.end()) {
            spec->refresh(**kept);
            ordered.push_back(std::move(*kept));
            continue;
        }
        ordered.push_back(spec->create(loop_));
        Listener &listener = *ordered.back();
        listener.setRouter(this);
        fresh.push_back(&listener);
        if (!spec->systemdName.empty()) {
            try {
                adoptInheritedSocket(listener, *spec);
            } catch (const StartupError &) {
                if (!started_) throw;
                // On a reload: start() below opens nothing; it is reported there.
            }
        }
    }
    listeners_ = std::move(ordered);

    std::vector<LogSink *> freshLogs;
    for (const auto &spec : config.routes) {
        if (spec.perConnection) {
            // Both edges of the pair are in the config; wire the pair once, from the accepting side.
            const ListenerSpec *fromSpec = config.findListener(spec.from);
            auto *from = dynamic_cast<StreamListener *>(findListener(spec.from));
            auto *to = dynamic_cast<StreamListener *>(findListener(spec.to));
            bool isNew = std::find(fresh.begin(), fresh.end(), from) != fresh.end();
            if (from && to && isNew && fromSpec->role() == StreamRole::Accepting) from->pairEachClientWith(*to);
            continue;
        }
        if (plan.keepRoutes.count(spec.name)) continue;
        Listener &source = *findListener(spec.from);
        Endpoint *target = nullptr;
        if (spec.log) {
            auto it = logs_.find(spec.log->path);
            if (it == logs_.end()) {
                it = logs_.emplace(spec.log->path, std::make_unique<LogSink>(loop_, *spec.log)).first;
                freshLogs.push_back(it->second.get());
            }
            target = it->second.get();
        } else {
            target = findListener(spec.to);
        }
        routes_.push_back(std::make_unique<Route>(spec.name, source, *target, spec.queue, spec.can));
        Route *route = routes_.back().get();
        route->queue().setOnSpace([&source] { source.resumeReading(); });
        if (auto it = carried.find(spec.name); it != carried.end() && it->second.target == target) {
            for (auto &message : it->second.messages) route->offer(std::move(message));
            it->second.messages.clear();
        }
    }
    for (auto &[name, c] : carried) {
        if (c.messages.empty()) continue;
        retiredDrops_ += c.messages.size();
        c.target->counters().drops += c.messages.size();
        logf(LogLevel::Warning, LogFields{.route = name}, "Route '{}': {} queued messages dropped by the reload", name,
             c.messages.size());
    }
    rebuildRouteIndex();
    // A kept listener may have paused for a `block` route the reload removed: let it ask again.
    for (auto &listener : listeners_)
        if (std::find(fresh.begin(), fresh.end(), listener.get()) == fresh.end()) listener->resumeReading();

    for (LogSink *log : freshLogs) log->open();
    for (Listener *listener : fresh) {
        try {
            listener->start();
        } catch (const StartupError &e) {
            if (!started_) throw;
            logf(LogLevel::Error, LogFields{.listener = listener->name()}, "{}; it stays down until the next reload",
                 e.what());
            down_.insert(listener->name());
            for (auto &id : next.listeners)
                if (id.name == listener->name()) id.canonical = kFailedMarker;
        }
    }
    applied_ = std::move(next);
    if (!started_) {
        for (const auto &[name, fds] : inherited_) {
            bool used = false;
            for (const auto &spec : config.listeners) used |= spec->systemdName == name;
            if (!used)
                logf(LogLevel::Warning, "Ignoring the socket '{}' passed by systemd: no listener has 'systemd: {}'",
                     name, name);
        }
    } else {
        logf(LogLevel::Notice, "Reloaded: {}", plan.summary());
    }
    started_ = true;
    if (!logLevelPinned_) setLogLevel(parseLogLevel(config.daemon.logLevel));
    if (statusTimer_) {
        publishStatus();
        statusResting_ = false;
        if (!statusTimer_->armed()) statusTimer_->arm(kStatusInterval);
    }
}

ReloadResult Manager::reload(const std::string &path)
{
    ReloadResult result;
    if (shuttingDown_) {
        result.errors.push_back("the daemon is stopping");
        logf(LogLevel::Warning, "Failed to reload '{}': the daemon is stopping, ignoring", path);
        return result;
    }
    logf(LogLevel::Notice, "Reloading '{}'", path);
    notifyServiceManager(fmt::format("RELOADING=1\nSTATUS=reloading {}", path));
    Config config;
    try {
        config = loadConfig(path);
    } catch (const ConfigException &e) {
        logf(LogLevel::Error, "Failed to reload '{}': the new config has {} error{}; the running config stays", path,
             e.errors().size(), e.errors().size() == 1 ? "" : "s");
        for (const auto &error : e.errors()) {
            logf(LogLevel::Error, "{}", error.toString());
            result.errors.push_back(error.toString());
        }
        notifyServiceManager(fmt::format("READY=1\nSTATUS=reload refused ({} errors); {}", e.errors().size(),
                                         statusLine()));
        return result;
    }
    ReloadPlan plan = planReload(applied_, describeConfig(config));
    result.summary = plan.summary();
    try {
        apply(config);
        result.applied = true;
    } catch (const std::exception &e) {
        // apply() logs listeners that fail to start and goes on; anything else is unexpected.
        logf(LogLevel::Error, "Failed to reload '{}': {}", path, e.what());
        result.errors.push_back(e.what());
    }
    for (const auto &name : down_) result.errors.push_back(fmt::format("listener '{}' failed to start", name));
    notifyServiceManager(fmt::format("READY=1\nSTATUS={}", statusLine()));
    return result;
}

int Manager::run() { return loop_.run(); }

void Manager::deliver(Listener &source, MessagePtr message)
{
    if (statusResting_) {
        statusResting_ = false;
        statusTimer_->arm(kStatusInterval);
    }
    if (tap_) tap_->observe(source, message);
    auto it = routesFrom_.find(&source);
    if (it == routesFrom_.end()) return;
    for (Route *route : it->second) route->offer(message);
}

bool Manager::canAccept(Listener &source)
{
    auto it = routesFrom_.find(&source);
    if (it == routesFrom_.end()) return true;
    for (Route *route : it->second) {
        RouteQueue &queue = route->queue();
        if (queue.limits().overflow == OverflowPolicy::Block && queue.full()) {
            queue.markSourceWaiting();
            return false;
        }
    }
    return true;
}

void Manager::beginShutdown()
{
    if (shuttingDown_) {
        logf(LogLevel::Notice, "Second stop signal: exiting without waiting for queues to drain");
        loop_.exit(0);
        return;
    }
    shuttingDown_ = true;
    if (statusTimer_) statusTimer_->disarm();
    statusResting_ = false;
    notifyServiceManager("STOPPING=1\nSTATUS=stopping: draining queues");
    logf(LogLevel::Notice, "Stopping: draining queues (at most {:.1f}s)", double(shutdownTimeout_.count()) / 1e9);
    for (auto &listener : listeners_) listener->stopReading();
    shutdownDeadline_ = std::chrono::steady_clock::now() + shutdownTimeout_;
    checkDrained();
}

void Manager::checkDrained()
{
    bool idle = true;
    for (auto &listener : listeners_) idle &= listener->idle();
    for (auto &[path, log] : logs_) idle &= log->idle();
    if (idle) {
        for (auto &[path, log] : logs_) log->close();
        logf(LogLevel::Notice, "Stopped: every queue drained");
        loop_.exit(0);
        return;
    }
    if (std::chrono::steady_clock::now() >= shutdownDeadline_) {
        for (const auto &route : routes_)
            if (!route->queue().empty())
                logf(LogLevel::Warning, LogFields{.route = route->name()},
                     "Route '{}': {} messages not delivered at shutdown", route->name(), route->queue().size());
        for (auto &[path, log] : logs_) log->close();
        logf(LogLevel::Warning, "Stopped: shutdown timeout reached before every queue drained");
        loop_.exit(0);
        return;
    }
    drainCheck_->arm(std::chrono::milliseconds(10));
}

uint64_t Manager::droppedTotal() const
{
    uint64_t total = retiredDrops_;
    for (const auto &route : routes_) total += route->queue().drops();
    for (const auto &listener : listeners_) total += listener->counters().drops;
    return total;
}

std::string Manager::statusLine()
{
    uint64_t messagesIn = 0;
    for (const auto &listener : listeners_) messagesIn += listener->counters().messagesIn;
    auto now = std::chrono::steady_clock::now();
    double rate = 0;
    if (lastStatusAt_.time_since_epoch().count() != 0 && now > lastStatusAt_ && messagesIn >= lastMessagesIn_)
        rate = double(messagesIn - lastMessagesIn_) / std::chrono::duration<double>(now - lastStatusAt_).count();
    lastMessagesIn_ = messagesIn;
    lastStatusAt_ = now;
    return fmt::format("{}/{} listeners up, {:.0f} msg/s, {} dropped", listenersUp(), listenersTotal(), rate,
                       droppedTotal());
}

bool Manager::publishStatus()
{
    std::string status = statusLine();
    if (status == lastStatus_) return false;
    lastStatus_ = status;
    notifyServiceManager("STATUS=" + status);
    return true;
}

std::string Manager::statsJson() const
{
    std::string out = R"({"listeners":{)";
    for (const auto &listener : listeners_) listener->refreshCounters();
    for (size_t i = 0; i < listeners_.size(); ++i)
        out += fmt::format(R"({}"{}":{})", i ? "," : "", listeners_[i]->name(), countersJson(*listeners_[i]));
    out += R"(},"routes":{)";
    for (size_t i = 0; i < routes_.size(); ++i)
        out += fmt::format(R"({}"{}":{})", i ? "," : "", routes_[i]->name(), routes_[i]->counters().toJson());
    out += R"(},"logs":{)";
    for (auto it = logs_.begin(); it != logs_.end(); ++it)
        out += fmt::format(R"({}{}:{})", it == logs_.begin() ? "" : ",", nlohmann::json(it->first).dump(),
                           countersJson(*it->second));
    out += "}}";
    return out;
}

}  // namespace sockbridge
