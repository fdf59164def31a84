// SPDX-License-Identifier: MIT
// Manager: builds listeners and routes from a Config, delivers messages, shuts down gracefully.
#include "core/manager.h"

#include <signal.h>

#include <fmt/core.h>

#include "core/log.h"
#include "core/stream_listener.h"
#include "sinks/log_sink.h"

namespace sockbridge {

Manager::Manager(EventLoop &loop) : loop_(loop) {}

Manager::~Manager()
{
    // Routes first: they point into listeners and logs.
    routes_.clear();
}

void Manager::setup()
{
    signals_.push_back(loop_.watchSignal(SIGTERM, [this] { beginShutdown(); }));
    signals_.push_back(loop_.watchSignal(SIGINT, [this] { beginShutdown(); }));
    signals_.push_back(loop_.watchSignal(SIGUSR1, [this] { logf(LogLevel::Notice, "Counters: {}", statsJson()); }));
    ::signal(SIGPIPE, SIG_IGN);
    drainCheck_ = loop_.makeTimer([this] { checkDrained(); });
}

Endpoint &Manager::logFor(const LogSpec &spec)
{
    auto it = logs_.find(spec.path);
    if (it == logs_.end()) it = logs_.emplace(spec.path, std::make_unique<LogSink>(loop_, spec)).first;
    return *it->second;
}

void Manager::apply(const Config &config)
{
    shutdownTimeout_ = config.daemon.shutdownTimeout;
    std::map<std::string, Listener *> byName;
    for (const auto &spec : config.listeners) {
        listeners_.push_back(spec->create(loop_));
        listeners_.back()->setRouter(this);
        byName[spec->name] = listeners_.back().get();
    }
    for (const auto &spec : config.routes) {
        Listener &source = *byName.at(spec.from);
        if (spec.perConnection) {
            // Both edges of the pair are in the config; wire the pair once, from the accepting side.
            auto *from = dynamic_cast<StreamListener *>(&source);
            auto *to = dynamic_cast<StreamListener *>(byName.at(spec.to));
            if (from && to && config.findListener(spec.from)->role() == StreamRole::Accepting)
                from->pairEachClientWith(*to);
            continue;
        }
        Endpoint &target = spec.log ? logFor(*spec.log) : *byName.at(spec.to);
        routes_.push_back(std::make_unique<Route>(spec.name, source, target, spec.queue, spec.can));
        Route *route = routes_.back().get();
        routesFrom_[&source].push_back(route);
        route->queue().setOnSpace([&source] { source.resumeReading(); });
    }
    for (auto &[path, log] : logs_) static_cast<LogSink &>(*log).open();
    for (auto &listener : listeners_) listener->start();
}

int Manager::run() { return loop_.run(); }

void Manager::deliver(Listener &source, MessagePtr message)
{
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
        for (auto &[path, log] : logs_) static_cast<LogSink &>(*log).close();
        logf(LogLevel::Notice, "Stopped: every queue drained");
        loop_.exit(0);
        return;
    }
    if (std::chrono::steady_clock::now() >= shutdownDeadline_) {
        for (const auto &route : routes_)
            if (!route->queue().empty())
                logf(LogLevel::Warning, "Route '{}': {} messages not delivered at shutdown", route->name(),
                     route->queue().size());
        for (auto &[path, log] : logs_) static_cast<LogSink &>(*log).close();
        logf(LogLevel::Warning, "Stopped: shutdown timeout reached before every queue drained");
        loop_.exit(0);
        return;
    }
    drainCheck_->arm(std::chrono::milliseconds(10));
}

std::string Manager::statsJson() const
{
    std::string out = R"({"listeners":{)";
    for (const auto &listener : listeners_) listener->refreshCounters();
    for (size_t i = 0; i < listeners_.size(); ++i)
        out += fmt::format(R"({}"{}":{})", i ? "," : "", listeners_[i]->name(), listeners_[i]->counters().toJson());
    out += R"(},"routes":{)";
    for (size_t i = 0; i < routes_.size(); ++i)
        out += fmt::format(R"({}"{}":{})", i ? "," : "", routes_[i]->name(), routes_[i]->counters().toJson());
    out += "}}";
    return out;
}

}  // namespace sockbridge
