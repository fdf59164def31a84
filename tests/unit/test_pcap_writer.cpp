// SPDX-License-Identifier: MIT
// PcapWriter and pcap logs: the exact bytes of the file header and records, and rotation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "sinks/pcap_writer.h"
#include "sinks/rotating_file.h"

using namespace sockbridge;
using ::testing::ElementsAreArray;

namespace {

Message packet(std::vector<uint8_t> data, uint16_t linkType, int64_t ts, uint32_t wire = 0)
{
    Message m;
    m.kind = MessageKind::Packet;
    m.data = std::move(data);
    m.linkType = linkType;
    m.timestampNs = ts;
    m.wireLength = wire;
    return m;
}

std::vector<uint8_t> readFile(const std::filesystem::path &path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST(PcapWriter, WritesNanosecondFileHeaderAndRecordBytes)
{
    PcapWriter writer(96);
    std::vector<uint8_t> out;
    std::string why;
    // 1.5 s after the epoch plus 7 ns; 4 bytes captured of 60 on the wire.
    ASSERT_TRUE(writer.append(packet({0xde, 0xad, 0xbe, 0xef}, 1, 1'500'000'007, 60), out, why));
    EXPECT_THAT(writer.fileHeader(), ElementsAreArray<uint8_t>({
                                         0x4d, 0x3c, 0xb2, 0xa1,  // magic a1b23c4d: nanoseconds
                                         0x02, 0x00, 0x04, 0x00,  // version 2.4
                                         0, 0, 0, 0, 0, 0, 0, 0,  // thiszone, sigfigs
                                         0x60, 0x00, 0x00, 0x00,  // snaplen 96
                                         0x01, 0x00, 0x00, 0x00,  // LINKTYPE_ETHERNET
                                     }));
    EXPECT_THAT(out, ElementsAreArray<uint8_t>({
                         0x01, 0x00, 0x00, 0x00,  // ts_sec 1
                         0x07, 0x65, 0xcd, 0x1d,  // ts_nsec 500000007
                         0x04, 0x00, 0x00, 0x00,  // incl_len 4
                         0x3c, 0x00, 0x00, 0x00,  // orig_len 60
                         0xde, 0xad, 0xbe, 0xef,
                     }));
}

TEST(PcapWriter, CutsToSnaplenAndKeepsOriginalLength)
{
    PcapWriter writer(64);
    std::vector<uint8_t> out;
    std::string why;
    ASSERT_TRUE(writer.append(packet(std::vector<uint8_t>(100, 0xaa), 101, 0), out, why));
    ASSERT_EQ(out.size(), 16u + 64u);
    EXPECT_EQ(out[8], 64);   // incl_len
    EXPECT_EQ(out[12], 100); // orig_len: the message size when no wire length is known
}

TEST(PcapWriter, RefusesOtherLinkTypesAndMessagesWithoutOne)
{
    PcapWriter writer;
    std::vector<uint8_t> out;
    std::string why;
    ASSERT_TRUE(writer.append(packet({1}, 276, 0), out, why));
    EXPECT_FALSE(writer.append(packet({1}, 1, 0), out, why));
    EXPECT_EQ(why, "link type 1 differs from the file's link type 276");
    Message datagram;
    datagram.kind = MessageKind::Datagram;
    datagram.data = {1};
    EXPECT_FALSE(writer.append(datagram, out, why));
    EXPECT_EQ(why, "a datagram message has no link type (not a captured packet)");
    EXPECT_EQ(out.size(), 17u);
}

TEST(PcapWriter, EveryRotatedFileStartsWithTheHeader)
{
    auto dir = std::filesystem::temp_directory_path() / ("sb-pcap-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    RotatingFile file((dir / "c.pcap").string(), 4096, 3);
    file.open();
    PcapWriter writer;
    std::string why;
    for (int i = 0; i < 10; ++i) {
        std::vector<uint8_t> record;
        ASSERT_TRUE(writer.append(packet(std::vector<uint8_t>(1000, uint8_t(i)), 1, i), record, why));
        if (i == 0) file.setHeader(writer.fileHeader());
        ASSERT_EQ(file.write(record), 0);
    }
    file.close();
    const auto header = writer.fileHeader();
    for (const char *name : {"c.pcap", "c.pcap.1", "c.pcap.2"}) {
        auto bytes = readFile(dir / name);
        ASSERT_GE(bytes.size(), 24u) << name;
        EXPECT_TRUE(std::equal(header.begin(), header.end(), bytes.begin())) << name;
        EXPECT_EQ((bytes.size() - 24) % 1016, 0u) << name;  // whole records only
    }
    std::filesystem::remove_all(dir);
}

TEST(PcapWriter, AppendsToAMatchingFileAndRotatesAMismatchingOne)
{
    auto dir = std::filesystem::temp_directory_path() / ("sb-pcap2-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    { std::ofstream(dir / "x.pcap") << "not a pcap header at all, 30b"; }
    RotatingFile file((dir / "x.pcap").string(), 0, 2);
    file.open();
    PcapWriter writer;
    std::vector<uint8_t> record;
    std::string why;
    ASSERT_TRUE(writer.append(packet({1, 2, 3}, 1, 0), record, why));
    file.setHeader(writer.fileHeader());
    ASSERT_EQ(file.write(record), 0);
    file.close();
    EXPECT_EQ(readFile(dir / "x.pcap").size(), 24u + 19u);
    EXPECT_EQ(readFile(dir / "x.pcap.1").size(), 29u);  // the old content, kept aside

    RotatingFile again((dir / "x.pcap").string(), 0, 2);
    again.open();
    again.setHeader(writer.fileHeader());
    ASSERT_EQ(again.write(record), 0);
    again.close();
    EXPECT_EQ(readFile(dir / "x.pcap").size(), 24u + 19u + 19u);
    std::filesystem::remove_all(dir);
}
