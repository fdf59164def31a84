// SPDX-License-Identifier: MIT
// sockbridged: reads a YAML config of listeners and routes and bridges or logs their traffic.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>

#include "build_config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "config/config.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/manager.h"

using namespace sockbridge;

namespace {

// Tells the service manager (Type=notify) where the daemon is; a no-op outside systemd.
void notifyServiceManager([[maybe_unused]] const char *state)
{
#if HAVE_SYSTEMD
    sd_notify(0, state);
#endif
}

LogLevel parseLevel(const std::string &name)
{
    if (name == "error") return LogLevel::Error;
    if (name == "warning") return LogLevel::Warning;
    if (name == "notice") return LogLevel::Notice;
    if (name == "debug") return LogLevel::Debug;
    return LogLevel::Info;
}

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

int runDaemon(const std::string &path, const std::string &levelOverride)
{
    Config config;
    try {
        config = loadConfig(path);
    } catch (const ConfigException &e) {
        for (const auto &error : e.errors()) fmt::print(stderr, "{}\n", error.toString());
        return 1;
    }
    setLogLevel(parseLevel(levelOverride.empty() ? config.daemon.logLevel : levelOverride));
    auto loop = EventLoop::create();
    Manager manager(*loop);
    try {
        manager.setup();
        manager.apply(config);
    } catch (const StartupError &e) {
        logf(LogLevel::Error, "{}", e.what());
        return 1;
    }
    logf(LogLevel::Notice, "sockbridged {} running {} ({} listeners, {} routes, {} loop)", SOCKBRIDGE_VERSION, path,
         config.listeners.size(), config.routes.size(), loop->name());
    notifyServiceManager("READY=1\nSTATUS=running");
    int code = manager.run();
    notifyServiceManager("STOPPING=1");
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

    try {
        return checkOnly ? check(configPath) : runDaemon(configPath, logLevel);
    } catch (const std::exception &e) {
        logf(LogLevel::Error, "Fatal: {}", e.what());
        return 1;
    }
}
