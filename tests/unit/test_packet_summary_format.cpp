// SPDX-License-Identifier: MIT
// packet-jsonl: summaries of hand-built frames, and refusal to decode input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "formats/format.h"
#include "formats/packet_summary_format.h"

using namespace sockbridge;
using Json = nlohmann::json;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts)
{
    Bytes out;
    for (const auto &p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

const Bytes kMacs = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};  // dst, src

Bytes ipv4(uint8_t protocol, size_t payload)
{
    const size_t total = 20 + payload;
    return {0x45, 0, uint8_t(total >> 8), uint8_t(total), 0, 1, 0, 0, 64, protocol, 0, 0,
            192,  0, 2,                   1,              192, 0, 2, 2};
}

Message packet(Bytes data, uint16_t linkType)
{
    Message m;
    m.kind = MessageKind::Packet;
    m.data = std::move(data);
    m.linkType = linkType;
    m.timestampNs = 1'700'000'000'123'456'789;
    m.source = "cap";
    m.peer = "eth0";
    return m;
}

Json summary(const Message &m) { return Json::parse(PacketSummaryFormat::summarize(m)); }

}  // namespace

TEST(PacketSummaryFormat, DecodesEthernetVlanIpv4UdpExactly)
{
    Bytes frame = cat({kMacs, {0x81, 0x00, 0x00, 0x07, 0x08, 0x00}, ipv4(17, 12),
                       {0x15, 0xb3, 0x00, 0x35, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}});
    EXPECT_EQ(PacketSummaryFormat::summarize(packet(frame, kLinkTypeEthernet)),
              R"({"ts":"2023-11-14T22:13:20.123456789Z","ts_ns":1700000000123456789,"source":"cap",)"
              R"("interface":"eth0","link":"ethernet","len":50,"caplen":50,"dst_mac":"02:00:00:00:00:02",)"
              R"("src_mac":"02:00:00:00:00:01","vlan":[7],"ethertype":"0x0800","l3":"ipv4","src":"192.0.2.1",)"
              R"("dst":"192.0.2.2","ttl":64,"proto":"udp","src_port":5555,"dst_port":53})");
}

TEST(PacketSummaryFormat, DecodesIpv6Tcp)
{
    Bytes ip6 = {0x60, 0, 0, 0, 0, 20, 6, 255};
    Bytes src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    Bytes dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    Bytes tcp = {0xc0, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0};
    Json j = summary(packet(cat({kMacs, {0x86, 0xdd}, ip6, src, dst, tcp}), kLinkTypeEthernet));
    EXPECT_EQ(j["l3"], "ipv6");
    EXPECT_EQ(j["src"], "2001:db8::1");
    EXPECT_EQ(j["dst"], "2001:db8::2");
    EXPECT_EQ(j["hop_limit"], 255);
    EXPECT_EQ(j["proto"], "tcp");
    EXPECT_EQ(j["src_port"], 49152);
    EXPECT_EQ(j["dst_port"], 80);
    EXPECT_EQ(j["tcp_flags"], "SA");
    EXPECT_FALSE(j.contains("truncated"));
}

TEST(PacketSummaryFormat, DecodesArpRequest)
{
    Bytes arp = {0, 1, 0x08, 0x00, 6, 4, 0, 1,  0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 1,
                 0, 0, 0,    0,    0, 0, 192, 0, 2,    2};
    Json j = summary(packet(cat({{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06}, arp}),
                            kLinkTypeEthernet));
    EXPECT_EQ(j["dst_mac"], "ff:ff:ff:ff:ff:ff");
    EXPECT_EQ(j["l3"], "arp");
    EXPECT_EQ(j["arp_op"], "request");
    EXPECT_EQ(j["sender_mac"], "02:00:00:00:00:01");
    EXPECT_EQ(j["sender_ip"], "192.0.2.1");
    EXPECT_EQ(j["target_ip"], "192.0.2.2");
}

TEST(PacketSummaryFormat, DecodesIcmpInRawIpAndSll2)
{
    Bytes icmp = cat({ipv4(1, 8), {8, 0, 0, 0, 0x12, 0x34, 0, 1}});
    Json raw = summary(packet(icmp, kLinkTypeRaw));
    EXPECT_EQ(raw["link"], "raw-ip");
    EXPECT_EQ(raw["proto"], "icmp");
    EXPECT_EQ(raw["icmp_type"], 8);
    EXPECT_EQ(raw["icmp_code"], 0);

    Bytes sll2 = {0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0};
    Json cooked = summary(packet(cat({sll2, icmp}), kLinkTypeLinuxSll2));
    EXPECT_EQ(cooked["link"], "linux-sll2");
    EXPECT_EQ(cooked["pkttype"], "outgoing");
    EXPECT_EQ(cooked["src_mac"], "02:00:00:00:00:01");
    EXPECT_EQ(cooked["icmp_type"], 8);
}

TEST(PacketSummaryFormat, MarksCutHeadersTruncated)
{
    Message m = packet(cat({kMacs, {0x08, 0x00}, {0x45, 0, 0}}), kLinkTypeEthernet);
    m.wireLength = 1514;
    Json j = summary(m);
    EXPECT_EQ(j["len"], 1514);
    EXPECT_EQ(j["caplen"], 17);
    EXPECT_EQ(j["truncated"], true);
}

TEST(PacketSummaryFormat, IsOutputOnly)
{
    const FormatKind *kind = findFormat("packet-jsonl");
    ASSERT_NE(kind, nullptr);
    EXPECT_TRUE(kind->encodeOnly);
    auto decoder = kind->makeDecoder({});
    std::vector<Payload> out;
    const uint8_t byte = '{';
    EXPECT_FALSE(decoder->feed({&byte, 1}, out));
    EXPECT_THAT(decoder->error(), ::testing::HasSubstr("output-only"));
}
