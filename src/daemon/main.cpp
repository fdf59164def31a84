// SPDX-License-Identifier: MIT
// sockbridged: reads a YAML config of listeners and routes and bridges or logs their traffic.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <grp.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "build_config.h"
#include "config/config.h"
#include "control/control_server.h"
#include "control/metrics_server.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/privileges.h"
#include "core/service_manager.h"

using namespace sockbridge;

namespace {

int check(const std::string &path)
{
    try {
        Config config = loadConfig(path);
        fmt::print("{}: OK ({} listeners, {} routes)\n", path, config.listeners.size(), config.routes.size());
        return 0;
    } catch (const ConfigException &e) {
        for (const auto &error : e.errors()) fmt::print(stderr, "{}\n", error.toString());
        return 1;
    }
}

// The control socket sockbridgectl talks to. The default path is best effort (a run by hand as
// a user cannot create /run/sockbridge); a path the config names must open.
void openControl(ControlServer &control, const Config &config)
{
    const DaemonSpec &daemon = config.daemon;
    if (daemon.control.empty()) return;
    std::optional<gid_t> group = daemon.controlGroup;
    if (!group && config.runAs) group = config.runAs->gid;
    // The system group the package creates (sysusers.d): its members run sockbridgectl. Taken
    // when the daemon may give the socket that group (root) or has it already (the unit's user).
    if (const struct group *entry = group ? nullptr : ::getgrnam("sockbridge"))
        if (::geteuid() == 0 || ::getegid() == entry->gr_gid) group = entry->gr_gid;
    try {
        control.open(daemon.control, daemon.controlMode, group);
    } catch (const StartupError &e) {
        if (daemon.controlConfigured) throw;
        logf(LogLevel::Warning, "{}; running without a control socket (set daemon.control)", e.what());
    }
}

int runDaemon(const std::string &path, const std::string &levelOverride)
{
    Config config;
    try {
        config = loadConfig(path);
    } catch (const ConfigException &e) {
        for (const auto &error : e.errors()) fmt::print(stderr, "{}\n", error.toString());
        return 1;
    }
    setLogLevel(parseLogLevel(levelOverride.empty() ? config.daemon.logLevel : levelOverride));
    auto loop = EventLoop::create();
    Manager manager(*loop);
    manager.setConfigPath(path);
    if (!levelOverride.empty()) manager.pinLogLevel();
    bool needsRaw = false;
    for (const auto &spec : config.listeners) needsRaw |= spec->needsRawSockets();
    // After the manager: they point into it, so they go first.
    ControlServer control(*loop, manager);
    control.setReloadHandler([&manager, path] { return manager.reload(path); });
    std::unique_ptr<MetricsServer> metrics;
    try {
        manager.setup();
        manager.apply(config);
        openControl(control, config);
        if (config.daemon.metrics) {
            metrics = std::make_unique<MetricsServer>(*loop, manager);
            metrics->open(*config.daemon.metrics);
        }
        // Every socket is bound: nothing below needs root.
        dropPrivileges(config.runAs, needsRaw);
    } catch (const StartupError &e) {
        logf(LogLevel::Error, "{}", e.what());
        notifyServiceManager(fmt::format("STATUS=failed to start: {}", e.what()));
        return 1;
    }
    logf(LogLevel::Notice, "sockbridged {} running {} ({} listeners, {} routes, {} loop)", SOCKBRIDGE_VERSION, path,
         config.listeners.size(), config.routes.size(), loop->name());
    // Only now: every listener's start() has succeeded.
    notifyServiceManager(fmt::format("READY=1\nSTATUS={}\nMAINPID={}", manager.statusLine(), ::getpid()));
    int code = manager.run();
    logf(LogLevel::Notice, "Final counters: {}", manager.statsJson());
    return code;
}

}  // namespace

int main(int argc, char **argv)
{
    CLI::App app{"sockbridged: bridge and log TCP, UDP and UNIX socket traffic as a YAML config says"};
    std::string configPath = "/etc/sockbridge/sockbridge.yaml";
    std::string logLevel;
    bool checkOnly = false;
    app.add_option("-c,--config", configPath, "the YAML config file")->capture_default_str();
    app.add_flag("--check", checkOnly, "validate the config, print every error as FILE:LINE:COL: message, and exit");
    app.add_option("--log-level", logLevel, "error, warning, notice, info or debug (overrides daemon.log_level)")
        ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}));
    app.set_version_flag("-V,--version", std::string("sockbridged ") + SOCKBRIDGE_VERSION);
    CLI11_PARSE(app, argc, argv);
    initLogTarget();

    try {
        return checkOnly ? check(configPath) : runDaemon(configPath, logLevel);
    } catch (const std::exception &e) {
        logf(LogLevel::Error, "Fatal: {}", e.what());
        return 1;
    }
}
