// SPDX-License-Identifier: MIT
// Tests for wholeRecordsEnd and the cut of a torn last record when a log file is opened.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "sinks/log_tail.h"
#include "sinks/pcap_writer.h"
#include "sinks/rotating_file.h"

using namespace sockbridge;
namespace fs = std::filesystem;

namespace {

class LogTailTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = (fs::temp_directory_path() / "sockbridge-tail-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
        dir_ = pattern;
        path_ = (dir_ / "log").string();
    }
    void TearDown() override
    {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }

    void writeFile(const std::vector<uint8_t> &bytes) const
    {
        std::ofstream out(path_, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    }
    void writeFile(const std::string &text) const { writeFile(std::vector<uint8_t>(text.begin(), text.end())); }
    std::vector<uint8_t> readFile() const
    {
        std::ifstream in(path_, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), {}};
    }
    // wholeRecordsEnd on the file as written.
    int64_t end(RecordFraming framing) const
    {
        UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
        EXPECT_TRUE(fd.isValid()) << std::strerror(errno);
        return wholeRecordsEnd(fd.get(), fs::file_size(path_), framing);
    }

    fs::path dir_;
    std::string path_;
};

Message canFrame(size_t bytes, int64_t ts)
{
    Message m;
    m.kind = MessageKind::Packet;
    m.data.assign(bytes, uint8_t(0x5a));
    m.linkType = 227;  // LINKTYPE_CAN_SOCKETCAN
    m.timestampNs = ts;
    return m;
}

// A pcap file header and `records` records of `payload` bytes each, as PcapWriter writes them.
std::vector<uint8_t> pcapFile(size_t records, size_t payload)
{
    PcapWriter writer;
    std::vector<uint8_t> body;
    std::string why;
    // The first record sets the file's link type, so the header is taken after it.
    for (size_t i = 0; i < std::max<size_t>(records, 1); ++i)
        EXPECT_TRUE(writer.append(canFrame(payload, int64_t(i)), body, why)) << why;
    if (records == 0) body.clear();
    std::vector<uint8_t> file = writer.fileHeader();
    file.insert(file.end(), body.begin(), body.end());
    return file;
}

std::vector<uint8_t> prefix(const std::vector<uint8_t> &bytes, size_t length)
{
    return {bytes.begin(), bytes.begin() + ptrdiff_t(length)};
}

}  // namespace

TEST(LogTailFraming, EachLogFormatHasItsFraming)
{
    EXPECT_EQ(framingOf(LogFormat::Jsonl), RecordFraming::Lines);
    EXPECT_EQ(framingOf(LogFormat::Candump), RecordFraming::Lines);
    EXPECT_EQ(framingOf(LogFormat::Hex), RecordFraming::Lines);
    EXPECT_EQ(framingOf(LogFormat::PacketJsonl), RecordFraming::Lines);
    EXPECT_EQ(framingOf(LogFormat::Pcap), RecordFraming::Pcap);
    EXPECT_EQ(framingOf(LogFormat::Raw), RecordFraming::None);
}

TEST_F(LogTailTest, EmptyFileHasNothingToCut)
{
    writeFile(std::string());
    EXPECT_EQ(end(RecordFraming::Lines), 0);
    EXPECT_EQ(end(RecordFraming::Pcap), 0);
    EXPECT_EQ(end(RecordFraming::None), 0);
}

TEST_F(LogTailTest, LinesEndingWithANewlineAreKeptWhole)
{
    writeFile("{\"a\":1}\n{\"b\":2}\n");
    EXPECT_EQ(end(RecordFraming::Lines), 16);
}

TEST_F(LogTailTest, ATornLastLineIsCutAfterTheLastNewline)
{
    writeFile("(1.000000) vcan0 123#AA\n(1.000001) vcan0 12");
    EXPECT_EQ(end(RecordFraming::Lines), 24);
}

TEST_F(LogTailTest, AFileOfOneTornLineIsCutToNothing)
{
    writeFile("{\"ts\":17000000");
    EXPECT_EQ(end(RecordFraming::Lines), 0);
}

TEST_F(LogTailTest, TheLastNewlineIsFoundFarBeforeTheEnd)
{
    // The torn line is longer than the 256 KiB the search reads at a time.
    std::string text = "first line\n" + std::string(600 * 1024, 'x');
    writeFile(text);
    EXPECT_EQ(end(RecordFraming::Lines), 11);
}

TEST_F(LogTailTest, RawLogsAreNeverCut)
{
    writeFile("no record boundaries here");
    EXPECT_EQ(end(RecordFraming::None), 25);
}

TEST_F(LogTailTest, PcapWithOnlyItsFileHeaderIsWhole)
{
    writeFile(pcapFile(0, 8));
    EXPECT_EQ(end(RecordFraming::Pcap), 24);
}

TEST_F(LogTailTest, PcapEndingOnARecordBoundaryIsWhole)
{
    const auto file = pcapFile(3, 16);
    writeFile(file);
    EXPECT_EQ(end(RecordFraming::Pcap), int64_t(file.size()));
}

TEST_F(LogTailTest, PcapWithATornFileHeaderIsAsGoodAsEmpty)
{
    writeFile(prefix(pcapFile(0, 8), 10));
    EXPECT_EQ(end(RecordFraming::Pcap), 0);
}

TEST_F(LogTailTest, PcapWithATornRecordHeaderIsCutToTheRecordBefore)
{
    const auto whole = pcapFile(2, 16);
    const auto file = pcapFile(3, 16);
    writeFile(prefix(file, whole.size() + 9));
    EXPECT_EQ(end(RecordFraming::Pcap), int64_t(whole.size()));
}

TEST_F(LogTailTest, PcapWithATornRecordPayloadIsCutToTheRecordBefore)
{
    const auto whole = pcapFile(2, 16);
    const auto file = pcapFile(3, 16);
    writeFile(prefix(file, file.size() - 1));
    EXPECT_EQ(end(RecordFraming::Pcap), int64_t(whole.size()));
}

TEST_F(LogTailTest, PcapRecordsAreWalkedAcrossManyReads)
{
    // 40000 records of 32 bytes: the walk crosses its 256 KiB read window several times.
    const auto whole = pcapFile(40000, 16);
    const auto file = pcapFile(40001, 16);
    writeFile(prefix(file, file.size() - 20));
    EXPECT_EQ(end(RecordFraming::Pcap), int64_t(whole.size()));
}

TEST_F(LogTailTest, AFileThatIsNotAPcapOfOursIsLeftWhole)
{
    writeFile("not a pcap file at all, and longer than a pcap header");
    EXPECT_EQ(end(RecordFraming::Pcap), 53);
    writeFile("GIF8");
    EXPECT_EQ(end(RecordFraming::Pcap), 4);
}

TEST_F(LogTailTest, OpeningALogCutsItsTornLastRecordCountsItAndAppendsAfter)
{
    writeFile("{\"n\":1}\n{\"n\":2}\n{\"n\":");
    RotatingFile file(path_, 0, 3, RecordFraming::Lines);
    file.open();
    EXPECT_EQ(file.size(), 16u);
    EXPECT_EQ(file.tornTails(), 1u);
    EXPECT_EQ(file.truncatedBytes(), 5u);
    ASSERT_EQ(file.write(std::vector<uint8_t>{'{', '}', '\n'}), 0);
    const std::string expected = "{\"n\":1}\n{\"n\":2}\n{}\n";
    EXPECT_EQ(readFile(), std::vector<uint8_t>(expected.begin(), expected.end()));
}

TEST_F(LogTailTest, OpeningAWholeLogCutsNothing)
{
    writeFile("{\"n\":1}\n");
    RotatingFile file(path_, 0, 3, RecordFraming::Lines);
    file.open();
    EXPECT_EQ(file.size(), 8u);
    EXPECT_EQ(file.tornTails(), 0u);
    EXPECT_EQ(file.truncatedBytes(), 0u);
}

TEST_F(LogTailTest, APcapWithATornHeaderGetsAFreshHeaderBeforeItsFirstRecord)
{
    const auto complete = pcapFile(1, 16);
    writeFile(prefix(complete, 13));
    RotatingFile file(path_, 0, 3, RecordFraming::Pcap);
    file.open();
    EXPECT_EQ(file.size(), 0u);
    EXPECT_EQ(file.truncatedBytes(), 13u);
    file.setHeader(prefix(complete, 24));
    ASSERT_EQ(file.write(std::vector<uint8_t>(complete.begin() + 24, complete.end())), 0);
    EXPECT_EQ(readFile(), complete);
}
