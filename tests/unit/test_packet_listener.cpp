// SPDX-License-Identifier: MIT
// Packet and raw listeners without sockets: filters, SLL2 headers, checksums, segmentation and
// config errors with their exact positions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if_arp.h>
#include <pcap/dlt.h>

#include <cstring>

#include "config_test_helpers.h"
#include "config/config.h"
#include "listeners/packet_listener.h"
#include "listeners/raw_listener.h"

using namespace sockbridge;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

namespace {

std::vector<std::string> errorsOf(const std::string &yaml) { return configErrorsOf(yaml, "test.yaml"); }

}  // namespace

TEST(PacketFilter, CompilesTcpdumpSyntaxWithSnaplenAsAcceptValue)
{
    std::string why;
    auto program = compilePacketFilter("udp port 53", DLT_EN10MB, 128, why);
    ASSERT_TRUE(program) << why;
    ASSERT_GT(program->size(), 4u);
    // The accepting return gives the snap length; the rejecting one 0.
    bool acceptsWithSnaplen = false;
    for (const auto &insn : *program)
        if (insn.code == (BPF_RET | BPF_K) && insn.k == 128) acceptsWithSnaplen = true;
    EXPECT_TRUE(acceptsWithSnaplen);
    auto all = compilePacketFilter("", DLT_EN10MB, 262144, why);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ(all->front().k, 262144u);
}

TEST(PacketFilter, ReportsLibpcapsMessageForBadExpressions)
{
    std::string why;
    EXPECT_FALSE(compilePacketFilter("udp prot 53", DLT_EN10MB, 65535, why));
    EXPECT_EQ(why, "can't parse filter expression: syntax error");
    EXPECT_FALSE(compilePacketFilter("port 99999", DLT_EN10MB, 65535, why));
    EXPECT_EQ(why, "illegal port number 99999 > 65535");
}

TEST(Sll2Header, IsBuiltFromTheSocketAddress)
{
    sockaddr_ll from{};
    from.sll_protocol = htons(ETH_P_IPV6);
    from.sll_ifindex = 0x01020304;
    from.sll_hatype = ARPHRD_ETHER;
    from.sll_pkttype = PACKET_OUTGOING;
    from.sll_halen = 6;
    const uint8_t mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    std::memcpy(from.sll_addr, mac, 6);
    std::vector<uint8_t> out;
    appendSll2Header(from, out);
    EXPECT_THAT(out, ElementsAreArray<uint8_t>({
                         0x86, 0xdd, 0x00, 0x00,  // protocol, reserved
                         0x01, 0x02, 0x03, 0x04,  // interface index
                         0x00, 0x01,              // ARPHRD_ETHER
                         0x04,                    // PACKET_OUTGOING
                         0x06,                    // address length
                         0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00, 0x00,
                     }));
}

TEST(Checksum, CompletesAnOffloadedUdpChecksum)
{
    // IPv4 192.0.2.1 → 192.0.2.2, UDP 1000 → 2000, payload "hi"; checksum field holds junk.
    std::vector<uint8_t> ip = {0x45, 0, 0, 30, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
                               0x03, 0xe8, 0x07, 0xd0, 0, 10, 0xab, 0xcd, 'h', 'i'};
    ASSERT_TRUE(completeChecksum(ip, ETH_P_IP));
    EXPECT_EQ(ip[26], 0x07);
    EXPECT_EQ(ip[27], 0xb5);
}

// RFC 1071 word by word, big-endian: the sum a receiver checks (0xffff for a valid checksum).
uint16_t referenceSum(const std::vector<uint8_t> &bytes)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < bytes.size(); i += 2)
        sum += uint32_t(bytes[i] << 8 | (i + 1 < bytes.size() ? bytes[i + 1] : 0));
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(sum);
}

TEST(Checksum, CompletedChecksumsVerifyForEveryPayloadLength)
{
    for (size_t length = 0; length < 40; ++length) {
        // IPv4 UDP: pseudo header = addresses, protocol, UDP length.
        std::vector<uint8_t> ip = {0x45, 0, 0, uint8_t(28 + length), 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1,
                                   198, 51, 100, 7, 0x9c, 0x41, 0x07, 0xd0, 0, uint8_t(8 + length), 0xab, 0xcd};
        for (size_t i = 0; i < length; ++i) ip.push_back(uint8_t(0xf1 + 37 * i));
        ASSERT_TRUE(completeChecksum(ip, ETH_P_IP));
        std::vector<uint8_t> check(ip.begin() + 12, ip.begin() + 20);
        check.insert(check.end(), {0, 17, 0, uint8_t(8 + length)});
        check.insert(check.end(), ip.begin() + 20, ip.end());
        EXPECT_EQ(referenceSum(check), 0xffff) << "UDP payload of " << length;

        // IPv6 TCP: pseudo header = addresses, TCP length, next header.
        std::vector<uint8_t> ip6 = {0x60, 0, 0, 0, 0, uint8_t(20 + length), 6, 64};
        for (int i = 0; i < 32; ++i) ip6.push_back(uint8_t(i % 16 == 0 ? 0x20 : 0xfe - i));
        const uint8_t tcp[20] = {0x1f, 0x90, 0xc3, 0x50, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0x12, 0x34};
        ip6.insert(ip6.end(), tcp, tcp + 20);
        for (size_t i = 0; i < length; ++i) ip6.push_back(uint8_t(0x0f + 91 * i));
        ASSERT_TRUE(completeChecksum(ip6, ETH_P_IPV6));
        std::vector<uint8_t> check6(ip6.begin() + 8, ip6.begin() + 40);
        check6.insert(check6.end(), {0, 0, 0, uint8_t(20 + length), 0, 0, 0, 6});
        check6.insert(check6.end(), ip6.begin() + 40, ip6.end());
        EXPECT_EQ(referenceSum(check6), 0xffff) << "TCP payload of " << length;
    }
}

TEST(Segmentation, SplitsAGsoTcpFrameIntoMtuSizedSegments)
{
    std::vector<uint8_t> frame = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
    const size_t payload = 3000;
    const size_t total = 40 + payload;
    std::vector<uint8_t> ip = {0x45, 0, uint8_t(total >> 8), uint8_t(total), 0x12, 0x34, 0x40, 0, 64, 6, 0, 0,
                               192, 0, 2, 1, 192, 0, 2, 2};
    std::vector<uint8_t> tcp = {0x13, 0x88, 0x04, 0xd2, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x19, 0xff, 0xff, 0, 0, 0, 0};
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), tcp.begin(), tcp.end());
    for (size_t i = 0; i < payload; ++i) frame.push_back(uint8_t(i));
    std::vector<std::vector<uint8_t>> segments;
    ASSERT_TRUE(segmentTcpFrame(frame, 1500, segments));
    ASSERT_EQ(segments.size(), 3u);
    EXPECT_EQ(segments[0].size(), 14u + 1500u);
    EXPECT_EQ(segments[2].size(), 14u + 40u + 3000u - 2u * 1460u);
    EXPECT_EQ(segments[0][14 + 20 + 13], 0x10);  // ACK only: FIN and PSH go on the last
    EXPECT_EQ(segments[2][14 + 20 + 13], 0x19);
    // Sequence numbers advance by the bytes before; IPv4 ids by one.
    EXPECT_EQ(segments[1][14 + 20 + 6] << 8 | segments[1][14 + 20 + 7], 0x1000 + 1460);
    EXPECT_EQ(segments[1][14 + 5], 0x35);
}

TEST(PacketConfig, AcceptsCaptureAndRawListeners)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  cap: {type: packet, interface: lo, filter: "icmp", direction: in, ring: {block_size: 64KiB, blocks: 4}, snaplen: 1500}
  all: {type: packet, interface: any, ring: false, filter: "tcp port 80"}
  out: {type: packet, interface: eth0, inject: true}
  gre: {type: raw, protocol: gre, bind: 192.0.2.1, peer: 192.0.2.2}
  p6: {type: raw, family: ipv6, protocol: icmpv6, header_included: true}
  n: {type: raw, protocol: 253}
routes:
  - {from: cap, to: out}
  - {from: cap, log: {path: /tmp/x.pcap, format: pcap}}
  - {from: all, log: {path: /tmp/x.jsonl, format: packet-jsonl}}
)"),
                ::testing::IsEmpty());
}

TEST(PacketConfig, ReportsBadPacketKeysWithPositions)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: packet, interface: any, mode: raw, promiscuous: true}
  b: {type: packet, interface: lo, filter: "udp prot 53"}
  c: {type: packet, interface: lo, direction: sideways, snaplen: 10}
  d: {type: packet, interface: lo, mode: cooked, inject: true, format: lines}
  e: {type: packet, interface: lo, ring: {block_size: 1000, blcks: 2}}
  f: {type: packet}
)"),
                ElementsAre("test.yaml:2:43: interface 'any' mixes link types: it needs 'mode: cooked' (Linux cooked "
                            "SLL2 headers)",
                            "test.yaml:2:61: 'promiscuous' needs a named interface, not 'any'",
                            "test.yaml:3:44: bad filter 'udp prot 53': can't parse filter expression: syntax error",
                            "test.yaml:4:47: 'direction' must be one of in, out, both, not 'sideways'",
                            "test.yaml:4:66: 'snaplen' must be between 64 and 262144",
                            "test.yaml:5:58: 'inject' sends whole frames and needs 'mode: raw'",
                            "test.yaml:5:72: a packet listener moves whole packets: 'format' must be raw (write "
                            "summaries with a log of format packet-jsonl)",
                            "test.yaml:6:55: 'block_size' must be a multiple of the page size (4096 bytes), at most "
                            "1GiB",
                            "test.yaml:6:61: unknown key 'blcks' in ring (did you mean 'blocks'?)",
                            "test.yaml:7:6: a packet listener needs 'interface: NAME' (or 'any')"));
}

TEST(PacketConfig, RefusesRoutesIntoAPacketListenerWithoutInjectAndSummariesAsInput)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  tunnel: {type: udp, bind: 127.0.0.1:9000, format: packet-jsonl}
  cap: {type: packet, interface: lo}
routes:
  - {from: tunnel, to: cap}
)"),
                ElementsAre("test.yaml:2:53: format 'packet-jsonl' is output only and cannot read input, but routes "
                            "read from listener 'tunnel'",
                            "test.yaml:5:5: route to 'cap': packet listener 'cap' does not send; set 'inject: true' "
                            "on it to send routed frames out of 'lo'"));
}

TEST(RawConfig, ReportsBadProtocolsAndAddresses)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: raw, protocol: icmpx}
  b: {type: raw, family: ipv6, protocol: icmp}
  c: {type: raw, protocol: 300}
  d: {type: raw, protocol: gre, peer: "2001:db8::1"}
  e: {type: raw}
)"),
                ElementsAre("test.yaml:2:28: unknown IP protocol 'icmpx' (a name such as icmp, icmpv6, gre, or a "
                            "number 1-255)",
                            "test.yaml:3:42: protocol 'icmp' is ICMP for IPv4: use 'icmpv6' with 'family: ipv6'",
                            "test.yaml:4:28: unknown IP protocol '300' (a name such as icmp, icmpv6, gre, or a number "
                            "1-255)",
                            "test.yaml:5:39: 'peer' is ipv6 but 'family' is ipv4",
                            "test.yaml:6:6: a raw listener needs 'protocol: NAME or NUMBER' (icmp, gre, 253, ...)"));
    EXPECT_EQ(ipProtocolNumber("gre"), 47);
    EXPECT_EQ(ipProtocolNumber("icmpv6"), 58);
    EXPECT_EQ(ipProtocolNumber("253"), 253);
}
