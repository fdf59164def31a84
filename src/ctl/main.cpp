// SPDX-License-Identifier: MIT
// sockbridgectl: status, stats, tap, reload and config checks for sockbridged.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <signal.h>

#include <cstdio>
#include <exception>

#include "build_config.h"
#include "config/config.h"
#include "ctl/client.h"
#include "ctl/render.h"
#include "ctl/tap_format.h"

using namespace sockbridge;

namespace {

int status(const std::string &socket, bool json)
{
    ControlClient client(socket);
    nlohmann::json answer = client.request({{"cmd", "status"}});
    answer.erase("ok");
    if (json)
        fmt::print("{}\n", answer.dump(2));
    else
        fmt::print("{}", renderStatus(answer));
    return 0;
}

int stats(const std::string &socket, bool json)
{
    ControlClient client(socket);
    nlohmann::json answer = client.request({{"cmd", "stats"}});
    if (json)
        fmt::print("{}\n", answer["stats"].dump(2));
    else
        fmt::print("{}", renderStats(answer["stats"]));
    return 0;
}

int reload(const std::string &socket)
{
    ControlClient client(socket);
    nlohmann::json answer = client.request({{"cmd", "reload"}}, std::chrono::seconds(60));
    for (const auto &error : answer.value("errors", nlohmann::json::array()))
        fmt::print(stderr, "{}\n", error.get<std::string>());
    if (!answer.value("applied", false)) {
        fmt::print(stderr, "Reload refused: the running config stays\n");
        return 1;
    }
    fmt::print("Reloaded: {}\n", answer.value("summary", ""));
    return answer.value("ok", false) ? 0 : 1;
}

int tap(const std::string &socket, const std::string &listener, uint64_t count, bool json)
{
    ControlClient client(socket);
    client.request({{"cmd", "tap"}, {"listener", listener}});
    fmt::print(stderr, "Tapping '{}'; Ctrl-C stops\n", listener);
    std::fflush(stderr);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    uint64_t shown = 0;
    while (count == 0 || shown < count) {
        std::optional<nlohmann::json> event = client.next();
        if (!event) {
            fmt::print(stderr, "sockbridged closed the tap\n");
            return shown > 0 || count == 0 ? 0 : 1;
        }
        std::string line = json ? event->dump() : formatTapEvent(*event);
        if (line.empty()) continue;
        fmt::print("{}\n", line);
        std::fflush(stdout);
        if (event->value("event", "") == "message") ++shown;
    }
    return 0;
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

}  // namespace

int main(int argc, char **argv)
{
    CLI::App app{"sockbridgectl: ask a running sockbridged for its status, counters and traffic"};
    std::string socket = "/run/sockbridge/control";
    app.add_option("-s,--socket", socket, "the daemon's control socket (daemon.control)")->capture_default_str();
    app.set_version_flag("-V,--version", std::string("sockbridgectl ") + SOCKBRIDGE_VERSION);
    app.require_subcommand(1);

    bool json = false;
    auto *statusCmd = app.add_subcommand("status", "listeners and routes: state, peers, counters, rates");
    statusCmd->add_flag("--json", json, "the daemon's answer as JSON");
    auto *statsCmd = app.add_subcommand("stats", "every counter of every listener and route");
    statsCmd->add_flag("--json", json, "as JSON: {\"listeners\": {NAME: counters}, \"routes\": {...}, \"logs\": {PATH: counters}}");

    std::string listener;
    uint64_t count = 0;
    auto *tapCmd = app.add_subcommand("tap", "show the messages a listener receives, live, one line each");
    tapCmd->add_option("LISTENER", listener, "the listener's name")->required();
    tapCmd->add_option("-n,--count", count, "exit after this many messages (0: until interrupted)");
    tapCmd->add_flag("--json", json, "the daemon's events as JSON lines");

    app.add_subcommand("reload", "reload the config file (as SIGHUP does) and say what changed");

    std::string file;
    auto *checkCmd = app.add_subcommand("check", "validate a config file here, without the daemon");
    checkCmd->add_option("FILE", file, "the YAML config file")->required();

    CLI11_PARSE(app, argc, argv);
    ::signal(SIGPIPE, SIG_IGN);
    try {
        if (statusCmd->parsed()) return status(socket, json);
        if (statsCmd->parsed()) return stats(socket, json);
        if (tapCmd->parsed()) return tap(socket, listener, count, json);
        if (checkCmd->parsed()) return check(file);
        return reload(socket);
    } catch (const CtlError &e) {
        fmt::print(stderr, "{}\n", e.what());
        return 1;
    } catch (const std::exception &e) {
        fmt::print(stderr, "sockbridgectl: {}\n", e.what());
        return 1;
    }
}
