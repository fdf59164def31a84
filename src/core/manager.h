// SPDX-License-Identifier: MIT
// Manager: owns the listeners, logs and routes of one config and runs them on the loop.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/event_loop.h"
#include "core/listener.h"
#include "core/reload_plan.h"
#include "core/route.h"
#include "core/tap.h"
#include "core/unique_fd.h"

namespace sockbridge {

class LogSink;

// What a reload did, for the log, sd_notify and `sockbridgectl reload`.
struct ReloadResult {
    bool applied = false;             // false: the new config was refused, the old one runs on
    std::vector<std::string> errors;  // "FILE:LINE:COL: message" for a refused config; failed listeners
    std::string summary;              // what was kept, replaced, added and removed
};

class Manager final : public Router {
public:
    explicit Manager(EventLoop &loop);
    ~Manager() override;

    // Signals (SIGTERM and SIGINT stop, SIGHUP reloads, SIGUSR1 logs counters), the sockets passed
    // by systemd, the STATUS= timer under a service manager. No listener is opened yet.
    void setup();
    // Opens every listener and log and builds the routes; throws StartupError. Called again with
    // a new config, it applies the difference (see ReloadPlan): unchanged listeners keep their
    // sockets and clients, unchanged routes their queues, unchanged logs stay open.
    void apply(const Config &config);
    // Loads `path` and applies it. An invalid config is refused (its errors are logged and
    // returned) and the running one stays; a listener of the new config that fails to start is
    // logged and stays down until the next reload. Sends RELOADING=1, then READY=1.
    ReloadResult reload(const std::string &path);
    // The config file SIGHUP reloads; set by the daemon.
    void setConfigPath(std::string path) { configPath_ = std::move(path); }
    // --log-level given: reloads keep it instead of the config's daemon.log_level.
    void pinLogLevel() { logLevelPinned_ = true; }
    int run();
    // Stop reading, drain the queues and buffers to their targets, then leave the loop.
    void beginShutdown();

    std::string statsJson() const;

    // For the control socket and metrics (src/control/): what runs now, in config order.
    const std::vector<std::unique_ptr<Listener>> &listeners() const { return listeners_; }
    const std::vector<std::unique_ptr<Route>> &routes() const { return routes_; }
    // Log files by path; their counters say how many records were written and how many failed.
    const std::map<std::string, std::unique_ptr<LogSink>> &logs() const { return logs_; }
    const AppliedConfig &applied() const { return applied_; }
    bool listenerDown(const std::string &name) const { return down_.count(name) != 0; }
    bool shuttingDown() const { return shuttingDown_; }
    // Sees every message a listener emits, before the routes do; nullptr (no tap) costs one test.
    void setTap(TapObserver *tap) { tap_ = tap; }
    // "3/3 listeners up, 120 msg/s, 0 dropped": the STATUS= line.
    std::string statusLine();
    size_t listenersUp() const { return listeners_.size() - down_.size(); }
    size_t listenersTotal() const { return listeners_.size(); }

    // Router
    void deliver(Listener &source, MessagePtr message) override;
    bool canAccept(Listener &source) override;

private:
    void checkDrained();
    bool publishStatus();  // false when the status did not change (nothing sent)
    Listener *findListener(const std::string &name) const;
    Route *findRoute(const std::string &name) const;
    void retireRoutes(const ReloadPlan &plan);
    void adoptInheritedSocket(Listener &listener, const ListenerSpec &spec);
    void rebuildRouteIndex();
    uint64_t droppedTotal() const;

    EventLoop &loop_;
    std::vector<std::unique_ptr<SignalWatch>> signals_;
    // Sockets passed by systemd, by FileDescriptorName=; listeners get duplicates, so a listener
    // replaced by a reload gets the same socket again.
    std::map<std::string, std::vector<UniqueFd>> inherited_;
    // Declared before the routes: a route unhooks itself from its endpoints when destroyed.
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::set<std::string> down_;  // listeners whose start() failed on a reload
    std::map<std::string, std::unique_ptr<LogSink>> logs_;
    std::vector<std::unique_ptr<Route>> routes_;
    std::unordered_map<const Listener *, std::vector<Route *>> routesFrom_;
    AppliedConfig applied_;
    bool started_ = false;
    std::string configPath_;
    bool logLevelPinned_ = false;
    uint64_t retiredDrops_ = 0;  // drops of routes a reload removed, so the total never goes back
    std::chrono::nanoseconds shutdownTimeout_ = std::chrono::seconds(5);
    std::chrono::steady_clock::time_point shutdownDeadline_;
    std::unique_ptr<Timer> drainCheck_;
    std::unique_ptr<Timer> suppressedReport_;  // reportSuppressed() when a rate-limit window ends
    bool shuttingDown_ = false;
    TapObserver *tap_ = nullptr;

    // STATUS= every few seconds while it changes, only under a service manager.
    std::unique_ptr<Timer> statusTimer_;
    bool statusResting_ = false;  // the status stopped changing: the next message re-arms the timer
    uint64_t lastMessagesIn_ = 0;
    std::chrono::steady_clock::time_point lastStatusAt_;
    std::string lastStatus_;
    // WATCHDOG=1 for a loop that does not ping by itself (epoll; sd-event does).
    std::unique_ptr<Timer> watchdogTimer_;
};

}  // namespace sockbridge
