// SPDX-License-Identifier: MIT
// Announcer: a listening server's discovery beacon, one datagram now and every interval after.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/event_loop.h"
#include "core/net_address.h"
#include "core/unique_fd.h"

namespace sockbridge {

class Announcer {
public:
    // text(server): the datagram for a server that clients reach at `server`, which is `listening`
    // unless that is a wildcard address (0.0.0.0, ::): then the address the beacon leaves from.
    using Text = std::function<std::string(const SocketAddress &server)>;

    Announcer(EventLoop &loop, std::string listener, SocketAddress to, std::chrono::milliseconds interval,
              SocketAddress listening, Text text);

    uint64_t sent() const { return sent_; }
    uint64_t failed() const { return failed_; }

private:
    void announce();
    bool connectSocket();
    SocketAddress server() const;
    void complain(std::string_view what, int error);

    std::string listener_;
    SocketAddress to_, listening_;
    std::chrono::milliseconds interval_;
    Text text_;
    UniqueFd fd_;
    std::unique_ptr<Timer> timer_;
    uint64_t sent_ = 0, failed_ = 0;
    int lastError_ = 0;  // warn once per kind of failure, and once more when it heals
};

}  // namespace sockbridge
