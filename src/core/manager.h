// SPDX-License-Identifier: MIT
// Manager: owns the listeners, logs and routes of one config and runs them on the loop.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/event_loop.h"
#include "core/listener.h"
#include "core/route.h"

namespace sockbridge {

class Manager final : public Router {
public:
    explicit Manager(EventLoop &loop);
    ~Manager() override;

    // Signals: SIGTERM and SIGINT begin a graceful shutdown.
    void setup();
    // Opens every listener and log and builds the routes; throws StartupError.
    void apply(const Config &config);
    int run();
    // Stop reading, drain the queues and buffers to their targets, then leave the loop.
    void beginShutdown();

    std::string statsJson() const;

    // Router
    void deliver(Listener &source, MessagePtr message) override;
    bool canAccept(Listener &source) override;

private:
    void checkDrained();
    Endpoint &logFor(const LogSpec &spec);

    EventLoop &loop_;
    std::vector<std::unique_ptr<SignalWatch>> signals_;
    // Declared before the routes: a route unhooks itself from its endpoints when destroyed.
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::map<std::string, std::unique_ptr<Endpoint>> logs_;
    std::vector<std::unique_ptr<Route>> routes_;
    std::unordered_map<const Listener *, std::vector<Route *>> routesFrom_;
    std::chrono::nanoseconds shutdownTimeout_ = std::chrono::seconds(5);
    std::chrono::steady_clock::time_point shutdownDeadline_;
    std::unique_ptr<Timer> drainCheck_;
    bool shuttingDown_ = false;
};

}  // namespace sockbridge
