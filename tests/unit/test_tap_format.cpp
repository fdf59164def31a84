// SPDX-License-Identifier: MIT
// sockbridgectl's tap lines and tables: candump-style CAN, packet summaries, previews, units.
#include <gtest/gtest.h>

#include "ctl/render.h"
#include "ctl/tap_format.h"

using namespace sockbridge;

namespace {
constexpr int64_t kTs = 1'700'000'000'123'456'789;
}

// LINKTYPE_CAN_SOCKETCAN: u32 BE can_id with flags, u8 length, u8 FD flags, 2 reserved, data.
TEST(TapFormat, CanFrame_PrintsLikeCandump)
{
    const std::vector<uint8_t> frame = {0x00, 0x00, 0x01, 0x23, 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef};
    EXPECT_EQ(formatCanFrame(frame, kTs, "can0"), "(1700000000.123456)  can0  123   [4]  DE AD BE EF");
}

TEST(TapFormat, CanFrame_ExtendedIdHasEightDigits)
{
    const std::vector<uint8_t> frame = {0x92, 0x34, 0x56, 0x78, 1, 0, 0, 0, 0x11};
    EXPECT_EQ(formatCanFrame(frame, kTs, "bus"), "(1700000000.123456)  bus  12345678   [1]  11");
}

TEST(TapFormat, CanFrame_RemoteRequestAndFd)
{
    const std::vector<uint8_t> rtr = {0x40, 0x00, 0x07, 0xff, 2, 0, 0, 0};
    EXPECT_EQ(formatCanFrame(rtr, kTs, "c"), "(1700000000.123456)  c  7FF   [2]  remote request");
    std::vector<uint8_t> fd = {0x00, 0x00, 0x00, 0x42, 12, 0x05, 0, 0};
    for (int i = 0; i < 12; ++i) fd.push_back(uint8_t(i));
    EXPECT_EQ(formatCanFrame(fd, kTs, "c"),
              "(1700000000.123456)  c  042  [12]  00 01 02 03 04 05 06 07 08 09 0A 0B");
}

TEST(TapFormat, Packet_SummarizesIpv4UdpOverEthernet)
{
    std::vector<uint8_t> packet(14, 0);
    packet[12] = 0x08;
    packet[13] = 0x00;
    const uint8_t ip[] = {0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    packet.insert(packet.end(), std::begin(ip), std::end(ip));
    const uint8_t udp[] = {0x13, 0x88, 0x00, 0x35, 0, 12, 0, 0};
    packet.insert(packet.end(), std::begin(udp), std::end(udp));
    EXPECT_EQ(summarizePacket(1, packet), "IPv4 10.0.0.1:5000 > 10.0.0.2:53 UDP");
}

TEST(TapFormat, Preview_EscapesAndCuts)
{
    const std::string text = "a\"b\\c\n\x01";
    EXPECT_EQ(preview({reinterpret_cast<const uint8_t *>(text.data()), text.size()}), R"("a\"b\\c\n\x01")");
    const std::string longText(100, 'x');
    EXPECT_EQ(preview({reinterpret_cast<const uint8_t *>(longText.data()), longText.size()}, 10),
              "\"xxxxxxxxxx\"…");
}

TEST(TapFormat, Units)
{
    EXPECT_EQ(humanBytes(17), "17 B");
    EXPECT_EQ(humanBytes(1536), "1.5 KiB");
    EXPECT_EQ(humanRate(0, false), "0/s");
    EXPECT_EQ(humanRate(12345, false), "12.3k/s");
    EXPECT_EQ(humanDuration(3725), "1h 2m");
}

TEST(TapFormat, Table_AlignsColumns)
{
    EXPECT_EQ(renderTable({"NAME", ">N"}, {{"a", "1"}, {"long", "100"}}), "NAME    N\na       1\nlong  100\n");
}
