// SPDX-License-Identifier: MIT
// AllowList: CIDR parsing and matching of peer addresses, IPv4-mapped IPv6 included.
#include "core/allow_list.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/core.h>

#include <cstring>

#include "core/log.h"

namespace sockbridge {

namespace {

// The peer's address bytes and family, an IPv4-mapped IPv6 address turned into IPv4.
bool addressBytes(const sockaddr *peer, socklen_t length, int &family, std::array<uint8_t, 16> &bytes)
{
    if (peer->sa_family == AF_INET && length >= socklen_t(sizeof(sockaddr_in))) {
        family = AF_INET;
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in *>(peer)->sin_addr, 4);
        return true;
    }
    if (peer->sa_family == AF_INET6 && length >= socklen_t(sizeof(sockaddr_in6))) {
        const in6_addr &address = reinterpret_cast<const sockaddr_in6 *>(peer)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&address)) {
            family = AF_INET;
            std::memcpy(bytes.data(), address.s6_addr + 12, 4);
        } else {
            family = AF_INET6;
            std::memcpy(bytes.data(), address.s6_addr, 16);
        }
        return true;
    }
    return false;
}

bool prefixMatches(const std::array<uint8_t, 16> &a, const std::array<uint8_t, 16> &b, unsigned prefix)
{
    const unsigned whole = prefix / 8, rest = prefix % 8;
    if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
    if (rest == 0) return true;
    const uint8_t mask = uint8_t(0xFF << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool hostBitsSet(const std::array<uint8_t, 16> &bytes, unsigned size, unsigned prefix)
{
    for (unsigned bit = prefix; bit < size * 8; ++bit)
        if (bytes[bit / 8] & (0x80 >> (bit % 8))) return true;
    return false;
}

}  // namespace

std::string Cidr::toString() const
{
    char text[INET6_ADDRSTRLEN] = "";
    inet_ntop(family, bytes.data(), text, sizeof(text));
    return fmt::format("{}/{}", text, prefix);
}

std::optional<Cidr> parseCidr(std::string_view text, std::string &error)
{
    std::string_view address = text, prefixText;
    bool hasPrefix = false;
    if (size_t slash = text.find('/'); slash != std::string_view::npos) {
        address = text.substr(0, slash);
        prefixText = text.substr(slash + 1);
        hasPrefix = true;
    }
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']')
        address = address.substr(1, address.size() - 2);
    Cidr cidr;
    unsigned size = 4;
    const std::string literal(address);
    if (inet_pton(AF_INET, literal.c_str(), cidr.bytes.data()) == 1) {
        cidr.family = AF_INET;
    } else if (inet_pton(AF_INET6, literal.c_str(), cidr.bytes.data()) == 1) {
        cidr.family = AF_INET6;
        size = 16;
    } else {
        error = fmt::format("'{}' is not an IPv4 or IPv6 address (expected ADDRESS/PREFIX, as 10.0.0.0/8 or "
                            "fd00::/8)",
                            address);
        return std::nullopt;
    }
    cidr.prefix = size * 8;
    if (hasPrefix) {
        unsigned value = 0;
        bool digits = !prefixText.empty() && prefixText.size() <= 3;
        for (char c : prefixText) {
            digits = digits && c >= '0' && c <= '9';
            if (digits) value = value * 10 + unsigned(c - '0');
        }
        if (!digits || value > size * 8) {
            error = fmt::format("prefix length '{}' must be a number from 0 to {}", prefixText, size * 8);
            return std::nullopt;
        }
        cidr.prefix = value;
    }
    if (hostBitsSet(cidr.bytes, size, cidr.prefix)) {
        error = fmt::format("'{}' has bits set after the first {} (a network address was meant?)", text,
                            cidr.prefix);
        return std::nullopt;
    }
    return cidr;
}

bool AllowList::admits(const sockaddr *peer, socklen_t length) const
{
    if (blocks_.empty()) return true;
    int family = AF_UNSPEC;
    std::array<uint8_t, 16> bytes{};
    if (!addressBytes(peer, length, family, bytes)) return false;
    for (const Cidr &block : blocks_)
        if (block.family == family && prefixMatches(block.bytes, bytes, block.prefix)) return true;
    return false;
}

bool isLoopback(const SocketAddress &address)
{
    int family = AF_UNSPEC;
    std::array<uint8_t, 16> bytes{};
    if (!addressBytes(address.get(), address.length, family, bytes)) return false;
    if (family == AF_INET) return bytes[0] == 127;
    static const std::array<uint8_t, 16> kLoopback6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return bytes == kLoopback6;
}

void warnWhenExposed(const std::string &listener, const SocketAddress &local, bool limited)
{
    if (limited || isLoopback(local)) return;
    logf(LogLevel::Warning, LogFields{.listener = listener},
         "Listener '{}' on {} is reachable from other hosts and has no 'allow' list: any peer that reaches it "
         "may send and receive",
         listener, local.toString());
}

}  // namespace sockbridge
