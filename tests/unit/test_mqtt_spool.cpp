// SPDX-License-Identifier: MIT
// Spool: order, acknowledgement, restart, a corrupt tail truncated and counted, the size limit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/spool.h"

namespace sockbridge {
namespace {

class SpoolTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char pattern[] = "/tmp/sockbridge-spool-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    SpoolOptions options(uint64_t maxBytes = 1 << 20) const
    {
        return {dir_ + "/spool", maxBytes, SpoolSync::Batch};
    }
    static std::vector<uint8_t> record(const std::string &text) { return {text.begin(), text.end()}; }
    static std::string next(Spool &spool)
    {
        std::vector<uint8_t> out;
        if (!spool.readNext(out)) return "<none>";
        return {out.begin(), out.end()};
    }
    std::vector<std::filesystem::path> segments() const
    {
        std::vector<std::filesystem::path> out;
        for (const auto &entry : std::filesystem::directory_iterator(dir_ + "/spool"))
            if (entry.path().extension() == ".seg") out.push_back(entry.path());
        std::sort(out.begin(), out.end());
        return out;
    }

    std::string dir_;
};

TEST_F(SpoolTest, Spool_ReadsRecordsInOrderAndRewindsToTheFirstUnacknowledged)
{
    Spool spool(options());
    for (int i = 0; i < 5; ++i) ASSERT_EQ(spool.append(record("m" + std::to_string(i))), 0);
    EXPECT_EQ(spool.records(), 5u);
    EXPECT_EQ(next(spool), "m0");
    EXPECT_EQ(next(spool), "m1");
    EXPECT_EQ(next(spool), "m2");
    spool.ackOldest();  // m0 delivered
    spool.rewind();     // the connection broke: m1 and m2 are sent again
    EXPECT_EQ(next(spool), "m1");
    EXPECT_EQ(next(spool), "m2");
    EXPECT_EQ(next(spool), "m3");
    EXPECT_EQ(next(spool), "m4");
    EXPECT_EQ(next(spool), "<none>");
    EXPECT_EQ(spool.records(), 4u);
}

TEST_F(SpoolTest, Spool_GivesBackTheSpaceOfAcknowledgedSegments)
{
    Spool spool(options(64 * 1024));  // 8KiB segments
    const std::string payload(1000, 'x');
    for (int i = 0; i < 40; ++i) ASSERT_EQ(spool.append(record(payload)), 0);
    EXPECT_GT(segments().size(), 3u);
    for (int i = 0; i < 40; ++i) {
        ASSERT_EQ(next(spool), payload);
        spool.ackOldest();
    }
    EXPECT_EQ(spool.records(), 0u);
    EXPECT_EQ(spool.bytes(), 0u);
    EXPECT_TRUE(segments().empty());
    ASSERT_EQ(spool.append(record("after")), 0);
    EXPECT_EQ(next(spool), "after");
}

TEST_F(SpoolTest, Spool_ResumesAfterARestartWithTheFirstUnacknowledgedRecord)
{
    {
        Spool spool(options(64 * 1024));
        for (int i = 0; i < 30; ++i) ASSERT_EQ(spool.append(record(std::string(900, 'a' + i % 26) + std::to_string(i))), 0);
        for (int i = 0; i < 12; ++i) {
            ASSERT_NE(next(spool), "<none>");
            spool.ackOldest();
        }
        ASSERT_NE(next(spool), "<none>");  // read, not acknowledged: delivered again after the restart
    }
    Spool again(options(64 * 1024));
    EXPECT_EQ(again.records(), 18u);
    EXPECT_EQ(again.corruptTails(), 0u);
    for (int i = 12; i < 30; ++i) EXPECT_EQ(next(again), std::string(900, 'a' + i % 26) + std::to_string(i));
    EXPECT_EQ(next(again), "<none>");
}

TEST_F(SpoolTest, Spool_EverythingAcknowledgedThenRestartedKeepsNewRecords)
{
    {
        Spool spool(options());
        ASSERT_EQ(spool.append(record("old")), 0);
        ASSERT_EQ(next(spool), "old");
        spool.ackOldest();
        ASSERT_EQ(spool.append(record("new")), 0);  // a new segment numbered after the cursor's
    }
    Spool again(options());
    EXPECT_EQ(again.records(), 1u);
    EXPECT_EQ(next(again), "new");
}

TEST_F(SpoolTest, Spool_TruncatesACorruptTailAndCountsIt)
{
    {
        Spool spool(options());
        for (int i = 0; i < 3; ++i) ASSERT_EQ(spool.append(record("whole " + std::to_string(i))), 0);
    }
    auto files = segments();
    ASSERT_EQ(files.size(), 1u);
    const auto goodSize = std::filesystem::file_size(files[0]);
    {
        // A crash in the middle of a write: a header promising 100 bytes, and 5 of them.
        std::ofstream out(files[0], std::ios::binary | std::ios::app);
        const unsigned char partial[] = {100, 0, 0, 0, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
        out.write(reinterpret_cast<const char *>(partial), sizeof(partial));
    }
    Spool again(options());
    EXPECT_EQ(again.corruptTails(), 1u);
    EXPECT_EQ(again.truncatedBytes(), 13u);
    EXPECT_EQ(std::filesystem::file_size(files[0]), goodSize);
    EXPECT_EQ(again.records(), 3u);
    EXPECT_EQ(next(again), "whole 0");
    EXPECT_EQ(next(again), "whole 1");
    EXPECT_EQ(next(again), "whole 2");
    EXPECT_EQ(next(again), "<none>");
    ASSERT_EQ(again.append(record("appended")), 0);  // appends go after the last whole record
    EXPECT_EQ(next(again), "appended");
}

TEST_F(SpoolTest, Spool_ARecordWithABadChecksumEndsItsSegment)
{
    {
        Spool spool(options());
        for (int i = 0; i < 3; ++i) ASSERT_EQ(spool.append(record("rec" + std::to_string(i))), 0);
    }
    auto files = segments();
    ASSERT_EQ(files.size(), 1u);
    {
        // The second record's payload starts at 8 (file header) + 12 (first record) + 8 (its header).
        std::fstream io(files[0], std::ios::binary | std::ios::in | std::ios::out);
        io.seekp(8 + 12 + 8);
        io.put('X');
    }
    Spool again(options());
    EXPECT_EQ(again.corruptTails(), 1u);
    EXPECT_EQ(again.truncatedBytes(), 24u);  // the bad record and the one after it
    EXPECT_EQ(again.records(), 1u);
    EXPECT_EQ(next(again), "rec0");
    EXPECT_EQ(next(again), "<none>");
}

TEST_F(SpoolTest, Spool_RefusesRecordsBeyondItsLimitAndTakesMoreOnceSpaceIsFree)
{
    Spool spool(options(64 * 1024));
    const std::string payload(1000, 'p');
    int kept = 0;
    while (spool.append(record(payload)) == 0) ++kept;
    EXPECT_EQ(spool.append(record(payload)), -ENOSPC);
    EXPECT_LE(spool.bytes(), 64u * 1024);
    EXPECT_GE(kept, 56);  // 1008-byte records in 8KiB segments: 8 a segment, minus the last partial one
    EXPECT_EQ(spool.records(), uint64_t(kept));
    for (int i = 0; i < 8; ++i) {  // one whole segment delivered
        ASSERT_EQ(next(spool), payload);
        spool.ackOldest();
    }
    EXPECT_EQ(spool.append(record(payload)), 0);
}

TEST_F(SpoolTest, Spool_WritesTheDocumentedSegmentFormat)
{
    {
        Spool spool(options());
        // docs/fleet.md, "The spool on disk": topic "t", payload "hi" as the mqtt listener stores it.
        ASSERT_EQ(spool.append(std::vector<uint8_t>{0x00, 0x01, 't', 'h', 'i'}), 0);
    }
    auto files = segments();
    ASSERT_EQ(files.size(), 1u);
    std::ifstream in(files[0], std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<uint8_t> documented = {0x53, 0x42, 0x53, 0x50, 0x4f, 0x4f, 0x4c, 0x31, 0x05, 0x00, 0x00,
                                             0x00, 0xa7, 0x68, 0x2c, 0xb4, 0x00, 0x01, 0x74, 0x68, 0x69};
    EXPECT_EQ(bytes, documented);
}

TEST_F(SpoolTest, Spool_OneWriterAtATime)
{
    Spool first(options());
    EXPECT_THROW(Spool second(options()), SpoolError);
}

TEST_F(SpoolTest, Spool_Crc32IsIeee)
{
    const std::string check = "123456789";
    EXPECT_EQ(Spool::crc32({reinterpret_cast<const uint8_t *>(check.data()), check.size()}), 0xCBF43926u);
}

TEST_F(SpoolTest, Spool_AnUnwritableDirectoryIsAnError)
{
    SpoolOptions bad{"/proc/sockbridge-spool-here", 1 << 20, SpoolSync::Batch};
    EXPECT_THROW(Spool spool(bad), SpoolError);
}

}  // namespace
}  // namespace sockbridge
