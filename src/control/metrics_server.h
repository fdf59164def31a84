// SPDX-License-Identifier: MIT
// MetricsServer: a minimal HTTP/1.0 responder for GET /metrics (Prometheus text), on the loop.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/status.h"
#include "core/accept_pause.h"
#include "core/event_loop.h"
#include "core/net_address.h"
#include "core/stream_connection.h"
#include "core/unique_fd.h"

namespace sockbridge {

class Manager;

class MetricsServer {
public:
    static constexpr size_t kMaxClients = 16;
    static constexpr size_t kMaxRequest = 8192;
    static constexpr std::chrono::seconds kRequestTimeout{10};

    MetricsServer(EventLoop &loop, const Manager &manager);
    ~MetricsServer();
    MetricsServer(const MetricsServer &) = delete;
    MetricsServer &operator=(const MetricsServer &) = delete;

    // Binds and listens on `address`; throws StartupError.
    void open(const SocketAddress &address);

private:
    struct Client {
        std::unique_ptr<StreamConnection> connection;
        std::unique_ptr<Timer> timeout;  // a client that never finishes its request is closed
        std::string request;
        bool answered = false;
    };

    void acceptClients();
    void handleBytes(Client &client, const std::vector<Payload> &chunks);
    void respond(Client &client, const std::string &status, const std::string &contentType, const std::string &body);
    void forget(uint64_t id);

    EventLoop &loop_;
    StatusReport report_;
    std::string name_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    AcceptPause acceptPause_;  // out of descriptors: the watch waits
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
    std::vector<std::unique_ptr<Client>> closing_;
    std::unique_ptr<Deferred> reap_;
    uint64_t nextId_ = 1;
};

}  // namespace sockbridge
