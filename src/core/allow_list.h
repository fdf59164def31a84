// SPDX-License-Identifier: MIT
// AllowList: the CIDR blocks (IPv4 and IPv6) whose peers a listener talks to.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"

namespace sockbridge {

// One block: "10.1.0.0/16", "::1/128"; an address without a prefix is a single host.
struct Cidr {
    int family = AF_INET;
    std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
    unsigned prefix = 0;

    std::string toString() const;
};

// Parses "ADDR/PREFIX" or "ADDR" (IPv6 with or without brackets). Host bits set below the prefix
// are an error ("10.1.2.3/16"), since they usually mean a typo. Sets `error` when it fails.
std::optional<Cidr> parseCidr(std::string_view text, std::string &error);

class AllowList {
public:
    AllowList() = default;
    explicit AllowList(std::vector<Cidr> blocks) : blocks_(std::move(blocks)) {}

    // An empty list (no `allow:` key) admits everyone.
    bool configured() const { return !blocks_.empty(); }
    // True when the peer is in one of the blocks. An IPv4-mapped IPv6 peer (::ffff:10.1.2.3, as
    // a dual-stack [::] socket reports IPv4 clients) matches IPv4 blocks. Other families never do.
    bool admits(const sockaddr *peer, socklen_t length) const;
    bool admits(const SocketAddress &peer) const { return admits(peer.get(), peer.length); }
    const std::vector<Cidr> &blocks() const { return blocks_; }

private:
    std::vector<Cidr> blocks_;
};

// 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: the listener is reachable from this host only.
bool isLoopback(const SocketAddress &address);

// Logs a warning at startup when `local` is reachable from other hosts and nothing else limits who
// may talk to the listener (no allow list, no client certificates).
void warnWhenExposed(const std::string &listener, const SocketAddress &local, bool limited);

}  // namespace sockbridge
