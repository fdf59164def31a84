// SPDX-License-Identifier: MIT
// Socket addresses and the small value parsers the config uses (HOST:PORT, sizes, durations).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sockbridge {

// A resolved socket address of any family the daemon speaks (inet, inet6, unix).
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr *get() const { return reinterpret_cast<const sockaddr *>(&storage); }
    sockaddr *get() { return reinterpret_cast<sockaddr *>(&storage); }
    bool isMulticast() const;
    uint16_t port() const;  // 0 for unix
    // "127.0.0.1:5000", "[::1]:5000", "/run/x.sock", "@abstract", "" (unnamed unix)
    std::string toString() const;
    bool operator==(const SocketAddress &other) const;
};

// Parses "HOST:PORT" where HOST is an IPv4 literal, "[IPv6]" (optionally with %scope), "*" (any
// IPv4, as 0.0.0.0), empty (127.0.0.1), "localhost", or a name resolved with getaddrinfo (numeric
// port only). A bare "PORT" is 127.0.0.1:PORT: only an explicit address reaches other hosts.
// Returns the address or sets `error` to a sentence saying why not.
std::optional<SocketAddress> parseInetAddress(std::string_view text, std::string &error);

// Parses an IP literal without a port (a multicast group, say), v4 or v6.
std::optional<SocketAddress> parseIpLiteral(std::string_view text, std::string &error);

// "/path" or "@abstract" → a unix address; too long a path is an error.
std::optional<SocketAddress> parseUnixAddress(std::string_view text, std::string &error);

// "4096", "64KiB", "10MiB", "1GiB", "10MB" (decimal) → bytes.
std::optional<uint64_t> parseSize(std::string_view text, std::string &error);

// "250ms", "5s", "2m", "1h", "100us", plain number = seconds → duration.
std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text, std::string &error);

}  // namespace sockbridge
