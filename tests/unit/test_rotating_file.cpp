// SPDX-License-Identifier: MIT
// Tests for RotatingFile (append, size rotation, reopen) and LogSink's record formats.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.h"
#include "core/listener.h"
#include "core/message.h"
#include "core/route.h"
#include "sinks/log_sink.h"
#include "sinks/rotating_file.h"

using namespace sockbridge;
namespace fs = std::filesystem;

namespace {

std::span<const uint8_t> bytesOf(std::string_view s)
{
    return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

std::string readFile(const fs::path &path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class RotatingFileTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = (fs::temp_directory_path() / "sockbridge-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
        dir_ = pattern;
        path_ = (dir_ / "bridge.log").string();
    }
    void TearDown() override
    {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }

    // The names of the files in the temp dir.
    std::set<std::string> files() const
    {
        std::set<std::string> names;
        for (const auto &entry : fs::directory_iterator(dir_)) names.insert(entry.path().filename().string());
        return names;
    }

    fs::path dir_;
    std::string path_;
};

}  // namespace

TEST_F(RotatingFileTest, WritesAppendToTheFile)
{
    RotatingFile file(path_, 0, 3);
    file.open();
    ASSERT_EQ(file.write(bytesOf("hello ")), 0);
    ASSERT_EQ(file.write(bytesOf("world\n")), 0);

    EXPECT_EQ(readFile(path_), "hello world\n");
    EXPECT_EQ(file.size(), 12u);
    EXPECT_EQ(files(), (std::set<std::string>{"bridge.log"}));
}

TEST_F(RotatingFileTest, WriteBeforeOpenFailsWithEbadf)
{
    RotatingFile file(path_, 0, 3);
    EXPECT_EQ(file.write(bytesOf("x")), -EBADF);
    EXPECT_FALSE(fs::exists(path_));
}

TEST_F(RotatingFileTest, WriteThatWouldPassTheSizeRotatesFirst)
{
    RotatingFile file(path_, 10, 3);
    file.open();
    ASSERT_EQ(file.write(bytesOf("111111")), 0);
    ASSERT_EQ(file.write(bytesOf("222222")), 0);  // 12 > 10: rotate, then write

    EXPECT_EQ(readFile(path_ + ".1"), "111111");
    EXPECT_EQ(readFile(path_), "222222");
    EXPECT_EQ(file.size(), 6u);
}

TEST_F(RotatingFileTest, WriteThatReachesTheSizeExactlyDoesNotRotate)
{
    RotatingFile file(path_, 10, 3);
    file.open();
    ASSERT_EQ(file.write(bytesOf("12345")), 0);
    ASSERT_EQ(file.write(bytesOf("67890")), 0);

    EXPECT_EQ(readFile(path_), "1234567890");
    EXPECT_EQ(files(), (std::set<std::string>{"bridge.log"}));
}

TEST_F(RotatingFileTest, RotationShiftsFilesAndKeepsAtMostKeep)
{
    RotatingFile file(path_, 4, 2);
    file.open();
    for (std::string_view record : {"AAAA", "BBBB", "CCCC", "DDDD", "EEEE"}) ASSERT_EQ(file.write(bytesOf(record)), 0);

    // Newest rotated is .1; AAAA and BBBB were dropped off the end.
    EXPECT_EQ(readFile(path_), "EEEE");
    EXPECT_EQ(readFile(path_ + ".1"), "DDDD");
    EXPECT_EQ(readFile(path_ + ".2"), "CCCC");
    EXPECT_EQ(files(), (std::set<std::string>{"bridge.log", "bridge.log.1", "bridge.log.2"}));
}

TEST_F(RotatingFileTest, KeepOneLeavesOnlyTheLastRotatedFile)
{
    RotatingFile file(path_, 4, 1);
    file.open();
    for (std::string_view record : {"AAAA", "BBBB", "CCCC"}) ASSERT_EQ(file.write(bytesOf(record)), 0);

    EXPECT_EQ(readFile(path_), "CCCC");
    EXPECT_EQ(readFile(path_ + ".1"), "BBBB");
    EXPECT_EQ(files(), (std::set<std::string>{"bridge.log", "bridge.log.1"}));
}

TEST_F(RotatingFileTest, AWriteIsNeverSplitAcrossFiles)
{
    RotatingFile file(path_, 10, 3);
    file.open();
    ASSERT_EQ(file.write(bytesOf("aaaa")), 0);
    // 8 bytes would fit partly (6 free) in the live file: all 8 go to the new one.
    ASSERT_EQ(file.write(bytesOf("bbbbbbbb")), 0);

    EXPECT_EQ(readFile(path_ + ".1"), "aaaa");
    EXPECT_EQ(readFile(path_), "bbbbbbbb");
}

TEST_F(RotatingFileTest, AWriteLargerThanTheSizeGoesWholeIntoAnEmptyFile)
{
    RotatingFile file(path_, 10, 3);
    file.open();
    std::string big(25, 'x');
    ASSERT_EQ(file.write(bytesOf(big)), 0);

    EXPECT_EQ(readFile(path_), big);
    EXPECT_EQ(files(), (std::set<std::string>{"bridge.log"}));

    // The next write rotates the oversized file away.
    ASSERT_EQ(file.write(bytesOf("y")), 0);
    EXPECT_EQ(readFile(path_ + ".1"), big);
    EXPECT_EQ(readFile(path_), "y");
}

TEST_F(RotatingFileTest, SizeZeroNeverRotates)
{
    RotatingFile file(path_, 0, 3);
    file.open();
    std::string chunk(1000, 'z');
    for (int i = 0; i < 5; ++i) ASSERT_EQ(file.write(bytesOf(chunk)), 0);

    EXPECT_EQ(file.size(), 5000u);
    EXPECT_EQ(files(), (std::set<std::string>{"bridge.log"}));
}

TEST_F(RotatingFileTest, ReopeningAnExistingFileContinuesItsSize)
{
    {
        std::ofstream earlier(path_, std::ios::binary);
        earlier << "1234567";
    }
    RotatingFile file(path_, 10, 3);
    file.open();
    EXPECT_EQ(file.size(), 7u);

    // 7 + 4 > 10: the old content is rotated away rather than grown past the size.
    ASSERT_EQ(file.write(bytesOf("abcd")), 0);
    EXPECT_EQ(readFile(path_ + ".1"), "1234567");
    EXPECT_EQ(readFile(path_), "abcd");
}

TEST_F(RotatingFileTest, ReopeningAppendsInsteadOfTruncating)
{
    {
        RotatingFile first(path_, 0, 3);
        first.open();
        ASSERT_EQ(first.write(bytesOf("first\n")), 0);
        first.close();
    }
    RotatingFile second(path_, 0, 3);
    second.open();
    ASSERT_EQ(second.write(bytesOf("second\n")), 0);

    EXPECT_EQ(readFile(path_), "first\nsecond\n");
    EXPECT_EQ(second.size(), 13u);
}

TEST_F(RotatingFileTest, OpenCreatesMissingParentDirectories)
{
    std::string nested = (dir_ / "a" / "b" / "bridge.log").string();
    RotatingFile file(nested, 0, 3);
    file.open();
    ASSERT_EQ(file.write(bytesOf("x")), 0);

    EXPECT_TRUE(fs::is_directory(dir_ / "a" / "b"));
    EXPECT_EQ(readFile(nested), "x");
}

TEST_F(RotatingFileTest, OpenUnderARegularFileThrowsStartupErrorNamingThePath)
{
    // A path whose "directory" is a regular file fails for root too.
    {
        std::ofstream blocker(dir_ / "plain-file");
    }
    std::string bad = (dir_ / "plain-file" / "bridge.log").string();
    RotatingFile file(bad, 0, 3);
    try {
        file.open();
        FAIL() << "open() of " << bad << " succeeded";
    } catch (const StartupError &error) {
        EXPECT_NE(std::string(error.what()).find(bad), std::string::npos) << error.what();
    }
}

TEST_F(RotatingFileTest, OpenInAnUnwritableDirectoryThrowsStartupErrorNamingThePath)
{
    if (geteuid() == 0) GTEST_SKIP() << "running as root: directory permissions do not stop root";
    fs::path locked = dir_ / "locked";
    fs::create_directory(locked);
    ASSERT_EQ(chmod(locked.c_str(), 0500), 0);
    std::string bad = (locked / "bridge.log").string();
    RotatingFile file(bad, 0, 3);
    try {
        file.open();
        FAIL() << "open() of " << bad << " succeeded";
    } catch (const StartupError &error) {
        EXPECT_NE(std::string(error.what()).find(bad), std::string::npos) << error.what();
    }
    chmod(locked.c_str(), 0700);  // so TearDown can remove it
}

// --- LogSink::formatRecord ------------------------------------------------------------------------

namespace {

// The documented example message: "hi" or 01 00 ff from tcp-in at 2026-11-18T11:06:40.123456789Z.
Message exampleMessage(std::vector<uint8_t> data)
{
    Message message;
    message.kind = MessageKind::Bytes;
    message.data = std::move(data);
    message.timestampNs = 1795000000123456789;
    message.source = "tcp-in";
    message.peer = "127.0.0.1:5000";
    return message;
}

std::string formatted(LogFormat format, const Message &message)
{
    std::vector<uint8_t> out;
    LogSink::formatRecord(format, message, out);
    return {out.begin(), out.end()};
}

}  // namespace

TEST(LogSinkFormat, HexWritesTimestampSourcePeerKindLengthAndBytes)
{
    Message message = exampleMessage({0xde, 0xad});
    message.kind = MessageKind::Datagram;
    EXPECT_EQ(formatted(LogFormat::Hex, message),
              "2026-11-18T11:06:40.123456789Z tcp-in 127.0.0.1:5000 datagram 2: de ad\n");
}

TEST(LogSinkFormat, HexWritesADashForNoPeerAndNothingAfterTheColonForNoBytes)
{
    Message message = exampleMessage({});
    message.peer = "";
    EXPECT_EQ(formatted(LogFormat::Hex, message), "2026-11-18T11:06:40.123456789Z tcp-in - bytes 0:\n");
}

TEST(LogSinkFormat, RawWritesThePayloadUnchanged)
{
    std::vector<uint8_t> payload{'h', 'i', 0x00, 0xff, '\n'};
    EXPECT_EQ(formatted(LogFormat::Raw, exampleMessage(payload)), std::string("hi\0\xff\n", 5));
}

TEST(LogSinkFormat, RecordsAppendToWhatTheBufferHolds)
{
    std::vector<uint8_t> out{'>'};
    LogSink::formatRecord(LogFormat::Raw, exampleMessage({'a'}), out);
    LogSink::formatRecord(LogFormat::Raw, exampleMessage({'b'}), out);
    EXPECT_EQ(std::string(out.begin(), out.end()), ">ab");
}

TEST(LogSinkFormat, JsonlWritesTheDocumentedLines)
{
    // The example in docs/formats.md.
    EXPECT_EQ(formatted(LogFormat::Jsonl, exampleMessage({'h', 'i'})),
              R"({"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,"source":"tcp-in",)"
              R"("peer":"127.0.0.1:5000","kind":"bytes","len":2,"text":"hi"})"
              "\n");
    EXPECT_EQ(formatted(LogFormat::Jsonl, exampleMessage({0x01, 0x00, 0xff})),
              R"({"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,"source":"tcp-in",)"
              R"("peer":"127.0.0.1:5000","kind":"bytes","len":3,"base64":"AQD/"})"
              "\n");
}

// --- LogSink writing through a RotatingFile -------------------------------------------------------

namespace {

class FakeListener final : public Listener {
public:
    using Listener::Listener;
    void start() override {}
    void stopReading() override {}
    void resumeReading() override {}
    std::string describe() const override { return "fake"; }

protected:
    void drain() override {}
};

}  // namespace

TEST_F(RotatingFileTest, LogSinkRotatesBetweenRecordsNeverInsideOne)
{
    std::unique_ptr<EventLoop> loop = EventLoop::create();
    LogSpec spec;
    spec.path = path_;
    spec.format = LogFormat::Raw;
    spec.rotateSize = 10;
    spec.keep = 5;
    FakeListener source("in", *loop);
    LogSink sink(*loop, spec);
    sink.open();
    {
        Route route("r", source, sink, QueueLimits{});
        for (std::string_view record : {"AAA\n", "BBB\n", "CCC\n", "DDD\n", "EEE\n"}) {
            auto message = std::make_shared<Message>();
            message->data.assign(record.begin(), record.end());
            route.offer(message);
        }
        sink.close();  // drains what is queued in one batch, as one loop iteration would
    }

    // Two 4-byte records fit in 10 bytes, a third would not.
    EXPECT_EQ(readFile(path_ + ".2"), "AAA\nBBB\n");
    EXPECT_EQ(readFile(path_ + ".1"), "CCC\nDDD\n");
    EXPECT_EQ(readFile(path_), "EEE\n");
    EXPECT_EQ(sink.counters().messagesOut, 5u);
    EXPECT_EQ(sink.counters().bytesOut, 20u);
    EXPECT_EQ(sink.counters().errors, 0u);
}

// A write the file system refuses halfway (here RLIMIT_FSIZE, as a full disk would) leaves the
// file at its last whole record, so the next record does not follow half of one.
TEST_F(RotatingFileTest, AFailedWriteIsCutBackToTheLastWholeRecord)
{
    RotatingFile file(path_, 0, 0);
    file.open();
    ASSERT_EQ(file.write(bytesOf("first record\n")), 0);

    struct rlimit old{};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    struct sigaction ignore{}, previous{};
    ignore.sa_handler = SIG_IGN;
    ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &previous), 0);  // EFBIG instead of the signal
    struct rlimit small = old;
    small.rlim_cur = 20;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    const int r = file.write(bytesOf("a record that does not fit\n"));
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    sigaction(SIGXFSZ, &previous, nullptr);

    EXPECT_EQ(r, -EFBIG);
    EXPECT_EQ(readFile(path_), "first record\n");
    EXPECT_EQ(file.size(), 13u);
    ASSERT_EQ(file.write(bytesOf("next record\n")), 0);
    EXPECT_EQ(readFile(path_), "first record\nnext record\n");
}

TEST_F(RotatingFileTest, AFileMovedAwayOrDeletedIsCreatedAgainAtItsPath)
{
    RotatingFile file(path_, 0, 0);
    file.open();
    ASSERT_EQ(file.write(bytesOf("before\n")), 0);
    EXPECT_EQ(file.reopenIfReplaced(), 0);

    fs::rename(path_, path_ + ".moved");
    EXPECT_EQ(file.reopenIfReplaced(), 1);
    ASSERT_EQ(file.write(bytesOf("after the move\n")), 0);
    EXPECT_EQ(readFile(path_ + ".moved"), "before\n");
    EXPECT_EQ(readFile(path_), "after the move\n");

    fs::remove(path_);
    EXPECT_EQ(file.reopenIfReplaced(), 1);
    ASSERT_EQ(file.write(bytesOf("after the delete\n")), 0);
    EXPECT_EQ(readFile(path_), "after the delete\n");
    EXPECT_EQ(file.reopenIfReplaced(), 0);
}
