// SPDX-License-Identifier: MIT
// Socket addresses and the small value parsers the config uses (HOST:PORT, sizes, durations).
#include "core/net_address.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstring>
#include <limits>

namespace sockbridge {

namespace {

constexpr size_t kSunPathMax = sizeof(sockaddr_un::sun_path) - 1;  // 107 on Linux
constexpr socklen_t kSunPathOffset = offsetof(sockaddr_un, sun_path);

bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

bool allDigits(std::string_view s)
{
    if (s.empty())
        return false;
    for (char c : s) {
        if (!isDigit(c))
            return false;
    }
    return true;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::string quoted(std::string_view s)
{
    return "'" + std::string(s) + "'";
}

// Parses the port part of HOST:PORT (0..65535).
std::optional<uint16_t> parsePort(std::string_view text, std::string &error)
{
    if (text.empty()) {
        error = "missing port (expected HOST:PORT)";
        return std::nullopt;
    }
    if (!allDigits(text)) {
        error = "port " + quoted(text) + " is not a number";
        return std::nullopt;
    }
    uint32_t value = 0;
    for (char c : text) {
        value = value * 10 + uint32_t(c - '0');
        if (value > 65535) {
            error = "port " + std::string(text) + " is out of range (0-65535)";
            return std::nullopt;
        }
    }
    return uint16_t(value);
}

SocketAddress makeInet4(const in_addr &addr, uint16_t port)
{
    SocketAddress out;
    auto *sin = reinterpret_cast<sockaddr_in *>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = addr;
    out.length = sizeof(sockaddr_in);
    return out;
}

// Parses "ADDR" or "ADDR%SCOPE" as an IPv6 literal; scope is an interface name or index.
// Returns nullopt without touching `error` when ADDR is not IPv6, so callers can word it.
std::optional<SocketAddress> parseInet6(std::string_view text, uint16_t port, std::string &error,
                                        bool &isIpv6)
{
    isIpv6 = false;
    std::string_view addrPart = text;
    std::string_view scopePart;
    bool hasScope = false;
    if (size_t pct = text.find('%'); pct != std::string_view::npos) {
        addrPart = text.substr(0, pct);
        scopePart = text.substr(pct + 1);
        hasScope = true;
    }
    in6_addr addr{};
    if (inet_pton(AF_INET6, std::string(addrPart).c_str(), &addr) != 1)
        return std::nullopt;
    isIpv6 = true;

    uint32_t scopeId = 0;
    if (hasScope) {
        if (scopePart.empty()) {
            error = "empty scope after '%' in " + quoted(text);
            return std::nullopt;
        }
        if (allDigits(scopePart) && scopePart.size() <= 9) {
            for (char c : scopePart)
                scopeId = scopeId * 10 + uint32_t(c - '0');
        } else {
            scopeId = if_nametoindex(std::string(scopePart).c_str());
            if (scopeId == 0) {
                error = "unknown network interface " + quoted(scopePart) + " in scope of " +
                        quoted(text);
                return std::nullopt;
            }
        }
    }

    SocketAddress out;
    auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = addr;
    sin6->sin6_scope_id = scopeId;
    out.length = sizeof(sockaddr_in6);
    return out;
}

bool looksLikeIpv6(std::string_view text)
{
    std::string_view addrPart = text.substr(0, text.find('%'));
    in6_addr addr{};
    return inet_pton(AF_INET6, std::string(addrPart).c_str(), &addr) == 1;
}

// Resolves a host name (or a non-canonical numeric form such as "127.1") with getaddrinfo and
// takes the first result.
std::optional<SocketAddress> resolveHost(std::string_view host, std::string_view port,
                                         std::string &error)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  // one result per address, not one per socket type
    hints.ai_flags = AI_NUMERICSERV;
    // A name made only of digits and dots cannot be a DNS name: don't ask a resolver about it.
    bool numeric = true;
    for (char c : host) {
        if (!isDigit(c) && c != '.')
            numeric = false;
    }
    if (numeric)
        hints.ai_flags |= AI_NUMERICHOST;

    addrinfo *result = nullptr;
    int rc = getaddrinfo(std::string(host).c_str(), std::string(port).c_str(), &hints, &result);
    if (rc != 0 || result == nullptr) {
        if (result != nullptr)
            freeaddrinfo(result);
        error = "cannot resolve host " + quoted(host);
        return std::nullopt;
    }
    std::optional<SocketAddress> out;
    for (addrinfo *ai = result; ai != nullptr; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof(sockaddr_storage)) {
            SocketAddress addr;
            std::memcpy(&addr.storage, ai->ai_addr, ai->ai_addrlen);
            addr.length = ai->ai_addrlen;
            out = addr;
            break;
        }
    }
    freeaddrinfo(result);
    if (!out)
        error = "cannot resolve host " + quoted(host) + " to an IPv4 or IPv6 address";
    return out;
}

// "12", "1.5" then an optional unit: the pieces a size or duration is made of.
struct NumberWithUnit {
    uint64_t whole = 0;
    uint64_t fraction = 0;      // the digits after the point, as an integer
    uint64_t fractionScale = 1; // 10^(number of digits after the point)
    std::string_view unit;
};

// fraction × multiplier ÷ scale exactly, in 64 bits (32-bit targets have no __int128): with
// fraction < scale ≤ 10^9, fraction × (multiplier mod scale) stays below 10^18.
struct ScaledFraction {
    uint64_t quotient;
    uint64_t remainder;
};
ScaledFraction scaleFraction(uint64_t fraction, uint64_t multiplier, uint64_t scale)
{
    const uint64_t low = fraction * (multiplier % scale);
    return {fraction * (multiplier / scale) + low / scale, low % scale};
}

enum class NumberError { None, Empty, Negative, Garbage, TooLarge, TooPrecise };

NumberError splitNumber(std::string_view text, NumberWithUnit &out)
{
    text = trim(text);
    if (text.empty())
        return NumberError::Empty;
    if (text.front() == '-')
        return NumberError::Negative;
    if (text.front() == '+')
        text.remove_prefix(1);
    size_t i = 0;
    if (i == text.size() || !isDigit(text[i]))
        return NumberError::Garbage;
    for (; i < text.size() && isDigit(text[i]); ++i) {
        if (__builtin_mul_overflow(out.whole, 10u, &out.whole) ||
            __builtin_add_overflow(out.whole, uint64_t(text[i] - '0'), &out.whole))
            return NumberError::TooLarge;
    }
    if (i < text.size() && text[i] == '.') {
        ++i;
        if (i == text.size() || !isDigit(text[i]))
            return NumberError::Garbage;
        size_t digits = 0;
        for (; i < text.size() && isDigit(text[i]); ++i, ++digits) {
            if (digits >= 9)
                return NumberError::TooPrecise;
            out.fraction = out.fraction * 10 + uint64_t(text[i] - '0');
            out.fractionScale *= 10;
        }
    }
    out.unit = trim(text.substr(i));
    return NumberError::None;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? char(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? char(b[i] - 'A' + 'a') : b[i];
        if (x != y)
            return false;
    }
    return true;
}

}  // namespace

bool SocketAddress::isMulticast() const
{
    if (family() == AF_INET) {
        const auto *sin = reinterpret_cast<const sockaddr_in *>(&storage);
        return IN_MULTICAST(ntohl(sin->sin_addr.s_addr));
    }
    if (family() == AF_INET6) {
        const auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(&storage);
        return IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr);
    }
    return false;
}

uint16_t SocketAddress::port() const
{
    if (family() == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in *>(&storage)->sin_port);
    if (family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6 *>(&storage)->sin6_port);
    return 0;
}

std::string SocketAddress::toString() const
{
    switch (family()) {
    case AF_INET: {
        const auto *sin = reinterpret_cast<const sockaddr_in *>(&storage);
        char buf[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
        return std::string(buf) + ":" + std::to_string(port());
    }
    case AF_INET6: {
        const auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(&storage);
        char buf[INET6_ADDRSTRLEN] = {};
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
        std::string out = "[" + std::string(buf);
        if (sin6->sin6_scope_id != 0) {
            char name[IF_NAMESIZE] = {};
            if (if_indextoname(sin6->sin6_scope_id, name) != nullptr)
                out += "%" + std::string(name);
            else
                out += "%" + std::to_string(sin6->sin6_scope_id);
        }
        return out + "]:" + std::to_string(port());
    }
    case AF_UNIX: {
        const auto *sun = reinterpret_cast<const sockaddr_un *>(&storage);
        if (length <= kSunPathOffset)
            return "";
        size_t len = std::min<size_t>(length - kSunPathOffset, sizeof(sun->sun_path));
        if (sun->sun_path[0] == '\0')
            return "@" + std::string(sun->sun_path + 1, len - 1);
        return std::string(sun->sun_path, strnlen(sun->sun_path, len));
    }
    case AF_UNSPEC:
        return "";
    default:
        return "<address family " + std::to_string(family()) + ">";
    }
}

bool SocketAddress::operator==(const SocketAddress &other) const
{
    if (family() != other.family() || length != other.length)
        return false;
    size_t len = std::min<size_t>(length, sizeof(storage));
    return std::memcmp(&storage, &other.storage, len) == 0;
}

std::optional<SocketAddress> parseInetAddress(std::string_view text, std::string &error)
{
    if (text.empty()) {
        error = "empty address (expected HOST:PORT)";
        return std::nullopt;
    }

    // A bare port ("7000") means this host only: reaching other hosts takes an explicit
    // 0.0.0.0, [::] or *, so that no listener is exposed by accident.
    if (allDigits(text)) {
        auto port = parsePort(text, error);
        if (!port)
            return std::nullopt;
        return makeInet4(in_addr{htonl(INADDR_LOOPBACK)}, *port);
    }

    if (text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) {
            error = "missing ']' in " + quoted(text);
            return std::nullopt;
        }
        std::string_view host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (rest.empty()) {
            error = "missing port (expected HOST:PORT)";
            return std::nullopt;
        }
        if (rest.front() != ':') {
            error = "expected ':' and a port after ']' in " + quoted(text);
            return std::nullopt;
        }
        auto port = parsePort(rest.substr(1), error);
        if (!port)
            return std::nullopt;
        bool isIpv6 = false;
        auto addr = parseInet6(host, *port, error, isIpv6);
        if (!addr && !isIpv6)
            error = quoted(host) + " is not an IPv6 address (only IPv6 goes in brackets)";
        return addr;
    }

    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        if (looksLikeIpv6(text))
            error = "IPv6 addresses need brackets: [" + std::string(text) + "]:PORT";
        else
            error = "missing port (expected HOST:PORT)";
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    std::string_view portText = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
        if (allDigits(portText) && looksLikeIpv6(host))
            error = "IPv6 addresses need brackets: [" + std::string(host) + "]:" +
                    std::string(portText);
        else if (looksLikeIpv6(text))
            error = "IPv6 addresses need brackets: [" + std::string(text) + "]:PORT";
        else
            error = "invalid address " + quoted(text) + " (expected HOST:PORT, IPv6 in brackets)";
        return std::nullopt;
    }

    auto port = parsePort(portText, error);
    if (!port)
        return std::nullopt;

    if (host.empty())
        return makeInet4(in_addr{htonl(INADDR_LOOPBACK)}, *port);
    if (host == "*")
        return makeInet4(in_addr{htonl(INADDR_ANY)}, *port);

    in_addr addr4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &addr4) == 1)
        return makeInet4(addr4, *port);

    return resolveHost(host, portText, error);
}

std::optional<SocketAddress> parseIpLiteral(std::string_view text, std::string &error)
{
    if (text.empty()) {
        error = "empty IP address";
        return std::nullopt;
    }
    std::string_view inner = text;
    bool bracketed = inner.size() >= 2 && inner.front() == '[' && inner.back() == ']';
    if (bracketed)
        inner = inner.substr(1, inner.size() - 2);

    in_addr addr4{};
    if (!bracketed && inet_pton(AF_INET, std::string(inner).c_str(), &addr4) == 1)
        return makeInet4(addr4, 0);

    bool isIpv6 = false;
    auto addr = parseInet6(inner, 0, error, isIpv6);
    if (!addr && !isIpv6)
        error = quoted(text) + " is not an IP address";
    return addr;
}

std::optional<SocketAddress> parseUnixAddress(std::string_view text, std::string &error)
{
    if (text.empty()) {
        error = "empty unix socket path";
        return std::nullopt;
    }
    if (text.find('\0') != std::string_view::npos && text.front() != '@') {
        error = "unix socket path contains a NUL byte";
        return std::nullopt;
    }

    SocketAddress out;
    auto *sun = reinterpret_cast<sockaddr_un *>(&out.storage);
    sun->sun_family = AF_UNIX;

    if (text.front() == '@') {
        std::string_view name = text.substr(1);
        if (name.empty()) {
            error = "abstract unix socket name is empty (expected @NAME)";
            return std::nullopt;
        }
        if (name.size() > kSunPathMax) {
            error = "abstract unix socket name is " + std::to_string(name.size()) +
                    " bytes, longer than the " + std::to_string(kSunPathMax) + " allowed";
            return std::nullopt;
        }
        sun->sun_path[0] = '\0';
        std::memcpy(sun->sun_path + 1, name.data(), name.size());
        out.length = socklen_t(kSunPathOffset + 1 + name.size());
        return out;
    }

    if (text.size() > kSunPathMax) {
        error = "unix socket path is " + std::to_string(text.size()) + " bytes, longer than the " +
                std::to_string(kSunPathMax) + " allowed";
        return std::nullopt;
    }
    std::memcpy(sun->sun_path, text.data(), text.size());
    sun->sun_path[text.size()] = '\0';
    out.length = socklen_t(kSunPathOffset + text.size() + 1);
    return out;
}

std::optional<uint64_t> parseSize(std::string_view text, std::string &error)
{
    text = trim(text);
    static constexpr const char *kUnits = "B, KiB, MiB, GiB, TiB, KB, MB, GB or TB";
    NumberWithUnit n;
    switch (splitNumber(text, n)) {
    case NumberError::None: break;
    case NumberError::Empty:
        error = "empty size (expected a number of bytes such as 4096 or 64KiB)";
        return std::nullopt;
    case NumberError::Negative:
        error = "size " + quoted(text) + " is negative";
        return std::nullopt;
    case NumberError::Garbage:
        error = "invalid size " + quoted(text) + " (expected a number with an optional unit " +
                kUnits + ", such as 64KiB)";
        return std::nullopt;
    case NumberError::TooLarge:
        error = "size " + quoted(text) + " is too large";
        return std::nullopt;
    case NumberError::TooPrecise:
        error = "size " + quoted(text) + " has too many digits after the decimal point";
        return std::nullopt;
    }

    struct Unit {
        const char *name;
        uint64_t bytes;
    };
    static constexpr Unit kTable[] = {
        {"", 1},
        {"B", 1},
        {"K", 1ull << 10},
        {"KiB", 1ull << 10},
        {"KB", 1000ull},
        {"M", 1ull << 20},
        {"MiB", 1ull << 20},
        {"MB", 1000ull * 1000},
        {"G", 1ull << 30},
        {"GiB", 1ull << 30},
        {"GB", 1000ull * 1000 * 1000},
        {"T", 1ull << 40},
        {"TiB", 1ull << 40},
        {"TB", 1000ull * 1000 * 1000 * 1000},
    };
    uint64_t multiplier = 0;
    for (const Unit &u : kTable) {
        if (equalsIgnoreCase(n.unit, u.name)) {
            multiplier = u.bytes;
            break;
        }
    }
    if (multiplier == 0) {
        error = "unknown size unit " + quoted(n.unit) + " in " + quoted(text) + " (use " +
                kUnits + ")";
        return std::nullopt;
    }

    uint64_t bytes = 0;
    if (__builtin_mul_overflow(n.whole, multiplier, &bytes)) {
        error = "size " + quoted(text) + " is too large";
        return std::nullopt;
    }
    if (n.fraction != 0) {
        const ScaledFraction scaled = scaleFraction(n.fraction, multiplier, n.fractionScale);
        if (scaled.remainder != 0) {
            error = "size " + quoted(text) + " is not a whole number of bytes";
            return std::nullopt;
        }
        if (__builtin_add_overflow(bytes, scaled.quotient, &bytes)) {
            error = "size " + quoted(text) + " is too large";
            return std::nullopt;
        }
    }
    return bytes;
}

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text, std::string &error)
{
    text = trim(text);
    static constexpr const char *kUnits = "ns, us, ms, s, m or h";
    NumberWithUnit n;
    switch (splitNumber(text, n)) {
    case NumberError::None: break;
    case NumberError::Empty:
        error = "empty duration (expected a number with a unit such as 250ms or 5s)";
        return std::nullopt;
    case NumberError::Negative:
        error = "duration " + quoted(text) + " is negative";
        return std::nullopt;
    case NumberError::Garbage:
        error = "invalid duration " + quoted(text) + " (expected a number with a unit " + kUnits +
                ", such as 250ms)";
        return std::nullopt;
    case NumberError::TooLarge:
        error = "duration " + quoted(text) + " is too large";
        return std::nullopt;
    case NumberError::TooPrecise:
        error = "duration " + quoted(text) + " has too many digits after the decimal point";
        return std::nullopt;
    }

    struct Unit {
        const char *name;
        uint64_t ns;
    };
    static constexpr Unit kTable[] = {
        {"ns", 1},
        {"us", 1000},
        {"µs", 1000},
        {"ms", 1000ull * 1000},
        {"", 1000ull * 1000 * 1000},
        {"s", 1000ull * 1000 * 1000},
        {"m", 60ull * 1000 * 1000 * 1000},
        {"min", 60ull * 1000 * 1000 * 1000},
        {"h", 3600ull * 1000 * 1000 * 1000},
    };
    uint64_t unitNs = 0;
    for (const Unit &u : kTable) {
        if (n.unit == u.name) {
            unitNs = u.ns;
            break;
        }
    }
    if (unitNs == 0) {
        error = "unknown duration unit " + quoted(n.unit) + " in " + quoted(text) +
                " (use " + kUnits + ")";
        return std::nullopt;
    }

    constexpr uint64_t kMax = uint64_t(std::numeric_limits<std::chrono::nanoseconds::rep>::max());
    uint64_t ns = 0;
    if (__builtin_mul_overflow(n.whole, unitNs, &ns) ||
        __builtin_add_overflow(ns, scaleFraction(n.fraction, unitNs, n.fractionScale).quotient, &ns) ||
        ns > kMax) {
        error = "duration " + quoted(text) + " is too large";
        return std::nullopt;
    }
    return std::chrono::nanoseconds(int64_t(ns));
}

}  // namespace sockbridge
