// SPDX-License-Identifier: MIT
// PacketSummaryFormat: decodes Ethernet/SLL2 (with 802.1Q tags), IPv4/IPv6/ARP and TCP/UDP/ICMP
// headers into one flat JSON object per packet, for reading without Wireshark.
#include "formats/packet_summary_format.h"

#include <arpa/inet.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sockbridge {

namespace {

using Json = nlohmann::ordered_json;

// A bounds-checked view of a header: every read past the end fails instead of reading on.
class Bytes {
public:
    Bytes(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    size_t size() const { return size_; }
    bool has(size_t n) const { return n <= size_; }
    uint8_t u8(size_t at) const { return data_[at]; }
    uint16_t u16(size_t at) const { return uint16_t(data_[at] << 8 | data_[at + 1]); }
    const uint8_t *at(size_t offset) const { return data_ + offset; }
    Bytes from(size_t offset) const { return offset <= size_ ? Bytes(data_ + offset, size_ - offset) : Bytes(data_, 0); }

private:
    const uint8_t *data_;
    size_t size_;
};

std::string macText(const uint8_t *p, size_t n = 6)
{
    std::string text;
    for (size_t i = 0; i < n; ++i) text += fmt::format("{}{:02x}", i ? ":" : "", p[i]);
    return text;
}

std::string ipText(int family, const uint8_t *p)
{
    char text[INET6_ADDRSTRLEN] = "";
    inet_ntop(family, p, text, sizeof(text));
    return text;
}

const char *protocolName(uint8_t protocol)
{
    switch (protocol) {
    case 1: return "icmp";
    case 2: return "igmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "icmpv6";
    case 132: return "sctp";
    default: return nullptr;
    }
}

void markTruncated(Json &out) { out["truncated"] = true; }

void decodeL4(uint8_t protocol, Bytes l4, Json &out)
{
    if (const char *name = protocolName(protocol))
        out["proto"] = name;
    else
        out["proto"] = protocol;
    switch (protocol) {
    case 6:  // TCP
        if (!l4.has(14)) return markTruncated(out);
        out["src_port"] = l4.u16(0);
        out["dst_port"] = l4.u16(2);
        {
            static constexpr char kFlags[] = "FSRPAUEC";  // bit 0 (FIN) upwards
            std::string flags;
            for (int bit = 0; bit < 8; ++bit)
                if (l4.u8(13) & (1 << bit)) flags += kFlags[bit];
            out["tcp_flags"] = flags;
        }
        return;
    case 17:   // UDP
    case 132:  // SCTP: ports in the same place
        if (!l4.has(4)) return markTruncated(out);
        out["src_port"] = l4.u16(0);
        out["dst_port"] = l4.u16(2);
        return;
    case 1:
    case 58:
        if (!l4.has(2)) return markTruncated(out);
        out["icmp_type"] = l4.u8(0);
        out["icmp_code"] = l4.u8(1);
        return;
    default: return;
    }
}

void decodeIpv4(Bytes ip, Json &out)
{
    out["l3"] = "ipv4";
    if (!ip.has(20)) return markTruncated(out);
    const size_t headerLength = size_t(ip.u8(0) & 0x0f) * 4;
    out["src"] = ipText(AF_INET, ip.at(12));
    out["dst"] = ipText(AF_INET, ip.at(16));
    out["ttl"] = ip.u8(8);
    const uint16_t fragment = ip.u16(6);
    if (fragment & 0x1fff) {
        // A later fragment carries no L4 header.
        out["proto"] = protocolName(ip.u8(9)) ? Json(protocolName(ip.u8(9))) : Json(ip.u8(9));
        out["fragment_offset"] = (fragment & 0x1fff) * 8;
        return;
    }
    if (headerLength < 20 || !ip.has(headerLength)) return markTruncated(out);
    decodeL4(ip.u8(9), ip.from(headerLength), out);
}

void decodeIpv6(Bytes ip, Json &out)
{
    out["l3"] = "ipv6";
    if (!ip.has(40)) return markTruncated(out);
    out["src"] = ipText(AF_INET6, ip.at(8));
    out["dst"] = ipText(AF_INET6, ip.at(24));
    out["hop_limit"] = ip.u8(7);
    uint8_t next = ip.u8(6);
    Bytes rest = ip.from(40);
    // Skip extension headers up to the transport one.
    for (int hops = 0; hops < 8; ++hops) {
        if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
            if (!rest.has(2)) return markTruncated(out);
            const size_t length = (size_t(rest.u8(1)) + 1) * 8;
            next = rest.u8(0);
            rest = rest.from(length);
        } else if (next == 44) {  // fragment
            if (!rest.has(8)) return markTruncated(out);
            const uint16_t offset = rest.u16(2) & 0xfff8;
            next = rest.u8(0);
            rest = rest.from(8);
            if (offset) {
                out["proto"] = protocolName(next) ? Json(protocolName(next)) : Json(next);
                out["fragment_offset"] = offset;
                return;
            }
        } else {
            break;
        }
    }
    decodeL4(next, rest, out);
}

void decodeArp(Bytes arp, Json &out)
{
    out["l3"] = "arp";
    // Ethernet/IPv4 ARP only: hardware type 1, protocol 0x0800, lengths 6 and 4.
    if (!arp.has(28)) return markTruncated(out);
    if (arp.u16(0) != 1 || arp.u16(2) != 0x0800 || arp.u8(4) != 6 || arp.u8(5) != 4) return;
    const uint16_t op = arp.u16(6);
    out["arp_op"] = op == 1 ? Json("request") : op == 2 ? Json("reply") : Json(op);
    out["sender_mac"] = macText(arp.at(8));
    out["sender_ip"] = ipText(AF_INET, arp.at(14));
    out["target_mac"] = macText(arp.at(18));
    out["target_ip"] = ipText(AF_INET, arp.at(24));
}

void decodeEthertype(uint16_t type, Bytes payload, Json &out)
{
    out["ethertype"] = fmt::format("0x{:04x}", type);
    switch (type) {
    case 0x0800: return decodeIpv4(payload, out);
    case 0x86dd: return decodeIpv6(payload, out);
    case 0x0806: return decodeArp(payload, out);
    default: return;
    }
}

void decodeEthernet(Bytes frame, Json &out)
{
    if (!frame.has(14)) return markTruncated(out);
    out["dst_mac"] = macText(frame.at(0));
    out["src_mac"] = macText(frame.at(6));
    uint16_t type = frame.u16(12);
    size_t offset = 14;
    Json vlans = Json::array();
    // 802.1Q (0x8100) and 802.1ad / QinQ (0x88a8) tags, outermost first.
    while ((type == 0x8100 || type == 0x88a8) && frame.has(offset + 4)) {
        vlans.push_back(frame.u16(offset) & 0x0fff);
        type = frame.u16(offset + 2);
        offset += 4;
    }
    if (!vlans.empty()) out["vlan"] = vlans;
    if (type == 0x8100 || type == 0x88a8) return markTruncated(out);
    decodeEthertype(type, frame.from(offset), out);
}

const char *packetTypeName(uint8_t type)
{
    static constexpr const char *kNames[] = {"host", "broadcast", "multicast", "otherhost", "outgoing"};
    return type < std::size(kNames) ? kNames[type] : "other";
}

void decodeSll2(Bytes frame, Json &out)
{
    if (!frame.has(20)) return markTruncated(out);
    out["pkttype"] = packetTypeName(frame.u8(10));
    const uint8_t addressLength = frame.u8(11);
    if (addressLength == 6) out["src_mac"] = macText(frame.at(12));
    decodeEthertype(frame.u16(0), frame.from(20), out);
}

void decodeRawIp(Bytes packet, Json &out)
{
    if (!packet.has(1)) return markTruncated(out);
    switch (packet.u8(0) >> 4) {
    case 4: return decodeIpv4(packet, out);
    case 6: return decodeIpv6(packet, out);
    default: return;
    }
}

const char *linkName(uint16_t linkType)
{
    switch (linkType) {
    case kLinkTypeEthernet: return "ethernet";
    case kLinkTypeRaw: return "raw-ip";
    case kLinkTypeLinuxSll2: return "linux-sll2";
    case kLinkTypeCanSocketCan: return "can";
    default: return "unknown";
    }
}

}  // namespace

/**
 * \class PacketSummaryFormat::Decoder
 * \brief Refuses every input: a summary keeps the headers it decoded, not the packet
 *
 * The config refuses `packet-jsonl` on a listener that routes read from, so this only runs if
 * that check is bypassed.
 */
PacketSummaryFormat::Decoder::Decoder(const FormatOptions &)
{
    error_ = "packet-jsonl is an output-only format (a summary cannot be turned back into a packet)";
}

bool PacketSummaryFormat::Decoder::feed(std::span<const uint8_t>, std::vector<Payload> &) { return false; }

bool PacketSummaryFormat::Decoder::finish(std::vector<Payload> &) { return true; }

PacketSummaryFormat::Encoder::Encoder(const FormatOptions &) {}

bool PacketSummaryFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    const std::string line = summarize(message);
    out.insert(out.end(), line.begin(), line.end());
    out.push_back('\n');
    return true;
}

/**
 * \brief Decodes what it can of the headers; never fails
 *
 * Keys appear only when their header is there: `ts`, `ts_ns`, `source`, `interface`, `link`,
 * `len` (on the wire) and `caplen` (captured) always; then `dst_mac`, `src_mac`, `vlan`,
 * `ethertype`, `l3`, `src`, `dst`, `ttl` or `hop_limit`, `proto`, `src_port`, `dst_port`,
 * `tcp_flags`, `icmp_type`, `icmp_code`, ARP fields, and `truncated` when a header was cut short.
 * A message without a link type (a datagram, say) is summarized as `link: "unknown"`.
 */
std::string PacketSummaryFormat::summarize(const Message &message)
{
    Json out;
    out["ts"] = formatTimestamp(message.timestampNs);
    out["ts_ns"] = message.timestampNs;
    out["source"] = message.source;
    if (!message.peer.empty())
        out["interface"] = message.peer;
    else if (message.ifindex)
        out["interface"] = message.ifindex;
    out["link"] = linkName(message.linkType);
    out["len"] = message.wireLength ? message.wireLength : message.size();
    out["caplen"] = message.size();
    const Bytes bytes(message.data.data(), message.data.size());
    switch (message.linkType) {
    case kLinkTypeEthernet: decodeEthernet(bytes, out); break;
    case kLinkTypeLinuxSll2: decodeSll2(bytes, out); break;
    case kLinkTypeRaw: decodeRawIp(bytes, out); break;
    default: break;
    }
    return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace sockbridge
