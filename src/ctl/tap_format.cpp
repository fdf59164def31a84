// SPDX-License-Identifier: MIT
// Tap lines: CAN frames as candump prints them, packets by their IP header, bytes as a preview.
#include "ctl/tap_format.h"

#include <arpa/inet.h>

#include <fmt/core.h>

#include "core/message.h"

namespace sockbridge {

namespace {

constexpr uint32_t kCanEff = 0x80000000U;
constexpr uint32_t kCanRtr = 0x40000000U;
constexpr uint32_t kCanErr = 0x20000000U;
constexpr uint8_t kCanFdFdf = 0x04;

uint16_t be16(std::span<const uint8_t> d, size_t at) { return uint16_t(d[at] << 8 | d[at + 1]); }

std::string ipString(int family, const uint8_t *bytes)
{
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, bytes, text, sizeof(text));
    return text;
}

std::string transportSummary(uint8_t protocol, std::span<const uint8_t> l4, const std::string &src,
                             const std::string &dst, const char *family)
{
    if ((protocol == 6 || protocol == 17) && l4.size() >= 4) {
        std::string out = fmt::format("{} {}:{} > {}:{} {}", family, src, be16(l4, 0), dst, be16(l4, 2),
                                      protocol == 6 ? "TCP" : "UDP");
        if (protocol == 6 && l4.size() >= 14) {
            static constexpr char kFlags[] = "FSRPAU";
            std::string flags;
            for (int bit = 0; bit < 6; ++bit)
                if (l4[13] & (1 << bit)) flags += kFlags[bit];
            out += fmt::format(" [{}]", flags);
        }
        return out;
    }
    const char *name = protocol == 1 ? "ICMP" : protocol == 58 ? "ICMPv6" : protocol == 2 ? "IGMP" : nullptr;
    if (name) return fmt::format("{} {} > {} {}", family, src, dst, name);
    return fmt::format("{} {} > {} protocol {}", family, src, dst, protocol);
}

std::string ipSummary(std::span<const uint8_t> ip)
{
    if (ip.empty()) return "empty";
    const int version = ip[0] >> 4;
    if (version == 4 && ip.size() >= 20) {
        size_t headerLength = size_t(ip[0] & 15) * 4;
        std::span<const uint8_t> l4 = ip.size() > headerLength ? ip.subspan(headerLength) : std::span<const uint8_t>();
        return transportSummary(ip[9], l4, ipString(AF_INET, &ip[12]), ipString(AF_INET, &ip[16]), "IPv4");
    }
    if (version == 6 && ip.size() >= 40)
        return transportSummary(ip[6], ip.subspan(40), ipString(AF_INET6, &ip[8]), ipString(AF_INET6, &ip[24]),
                                "IPv6");
    return fmt::format("IP version {} (truncated)", version);
}

std::string etherTypeSummary(uint16_t type, std::span<const uint8_t> payload)
{
    if (type == 0x0800 || type == 0x86dd) return ipSummary(payload);
    if (type == 0x0806) return "ARP";
    return fmt::format("ethertype 0x{:04x}", type);
}

}  // namespace

std::vector<uint8_t> fromHex(std::string_view hex)
{
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return 0;
    };
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(uint8_t(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    return out;
}

std::string formatCanFrame(std::span<const uint8_t> frame, int64_t timestampNs, std::string_view listener)
{
    std::string out = fmt::format("({}.{:06})  {}  ", timestampNs / 1'000'000'000, (timestampNs % 1'000'000'000) / 1000,
                                  listener);
    if (frame.size() < 8) return out + fmt::format("(malformed CAN frame: {} bytes)", frame.size());
    const uint32_t id = uint32_t(frame[0]) << 24 | uint32_t(frame[1]) << 16 | uint32_t(frame[2]) << 8 | frame[3];
    const size_t length = frame[4];
    const bool fd = (frame[5] & kCanFdFdf) != 0 || length > 8;
    out += (id & kCanEff) ? fmt::format("{:08X}", id & 0x1FFFFFFFU) : fmt::format("{:03X}", id & 0x7FFU);
    out += fd ? fmt::format("  [{:02}]", length) : fmt::format("   [{}]", length);
    if ((id & kCanRtr) && !fd) return out + "  remote request";
    const size_t shown = std::min(length, frame.size() - 8);
    if (shown) out += " ";
    for (size_t i = 0; i < shown; ++i) out += fmt::format(" {:02X}", frame[8 + i]);
    if (shown < length) out += "  (truncated)";
    if (id & kCanErr) out += "  ERRORFRAME";
    return out;
}

std::string summarizePacket(uint16_t linkType, std::span<const uint8_t> data)
{
    switch (linkType) {
    case 1: {  // LINKTYPE_ETHERNET, skipping VLAN tags
        size_t at = 12;
        while (data.size() >= at + 2 && (be16(data, at) == 0x8100 || be16(data, at) == 0x88a8)) at += 4;
        if (data.size() < at + 2) return "Ethernet (truncated)";
        return etherTypeSummary(be16(data, at), data.subspan(at + 2));
    }
    case 101: return ipSummary(data);  // LINKTYPE_RAW
    case 113:                          // LINKTYPE_LINUX_SLL
        if (data.size() < 16) return "SLL (truncated)";
        return etherTypeSummary(be16(data, 14), data.subspan(16));
    case 276:  // LINKTYPE_LINUX_SLL2
        if (data.size() < 20) return "SLL2 (truncated)";
        return etherTypeSummary(be16(data, 0), data.subspan(20));
    default: return fmt::format("link type {}", linkType);
    }
}

std::string preview(std::span<const uint8_t> data, size_t max)
{
    std::string out = "\"";
    for (uint8_t c : data) {
        std::string piece;
        if (c == '\n') piece = "\\n";
        else if (c == '\r') piece = "\\r";
        else if (c == '\t') piece = "\\t";
        else if (c == '"' || c == '\\') piece = std::string("\\") + char(c);
        else if (c >= 0x20 && c < 0x7f) piece = std::string(1, char(c));
        else piece = fmt::format("\\x{:02x}", c);
        if (out.size() + piece.size() > max + 1) return out + "\"…";
        out += piece;
    }
    return out + "\"";
}

std::string formatTapEvent(const nlohmann::json &event)
{
    const std::string type = event.value("event", "");
    if (type == "dropped")
        return fmt::format("-- {} messages not shown: this tap fell behind", event.value("count", uint64_t(0)));
    if (type != "message") return "";
    const std::string kind = event.value("kind", "");
    const std::string listener = event.value("listener", "");
    const int64_t ts = event.value("timestamp_ns", int64_t(0));
    const uint64_t length = event.value("length", uint64_t(0));
    const std::vector<uint8_t> data = fromHex(event.value("data", ""));
    if (kind == "can") return formatCanFrame(data, ts, listener);
    std::string peer = event.value("peer", "");
    std::string head = fmt::format("{}  {}  {}  {}  {} bytes", formatTimestamp(ts), listener,
                                   peer.empty() ? "-" : peer, kind, length);
    if (kind == "packet") return head + "  " + summarizePacket(event.value("link_type", uint16_t(0)), data);
    std::string line = head + "  " + preview(data);
    if (data.size() < length && !line.ends_with("…")) line += "…";
    return line;
}

}  // namespace sockbridge
