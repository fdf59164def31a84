// SPDX-License-Identifier: MIT
// CandumpFormat: can-utils' text lines to canonical CAN bytes and back, exactly as candump -L.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "formats/candump_format.h"

using namespace sockbridge;

namespace {

std::string frameText(std::string_view line)
{
    std::string why;
    auto frame = CandumpFormat::parseFrame(line, why);
    if (!frame) return "error: " + why;
    std::string out;
    CandumpFormat::appendFrame(*frame, out);
    return out;
}

std::string whyRejected(std::string_view line)
{
    std::string why;
    return CandumpFormat::parseFrame(line, why) ? "(accepted)" : why;
}

// Decodes `text` fed in one piece; the frames back as candump text, or "error: ...".
std::vector<std::string> decode(std::string_view text)
{
    CandumpFormat::Decoder decoder({});
    std::vector<Payload> payloads;
    bool ok = decoder.feed({reinterpret_cast<const uint8_t *>(text.data()), text.size()}, payloads) &&
              decoder.finish(payloads);
    std::vector<std::string> out;
    for (const auto &payload : payloads) {
        auto frame = CanFrame::parse(payload);
        std::string line;
        if (frame) CandumpFormat::appendFrame(*frame, line);
        out.push_back(frame ? line : "(not a frame)");
    }
    if (!ok) out.push_back("error: " + decoder.error());
    return out;
}

}  // namespace

TEST(CandumpFormat, PrintsFramesAsCandumpDoes)
{
    EXPECT_EQ(frameText("123#deadbeef"), "123#DEADBEEF");
    EXPECT_EQ(frameText("7FF#"), "7FF#");
    EXPECT_EQ(frameText("1ABCDEF0#0102"), "1ABCDEF0#0102");
    EXPECT_EQ(frameText("00000123#11"), "00000123#11");  // 8 digits: extended even when small
    // FDF (4) is set on every FD frame, as candump prints what kernels 6.0 and later report.
    EXPECT_EQ(frameText("456##1112233445566778899AABBCC"), "456##5112233445566778899AABBCC");
    EXPECT_EQ(frameText("456##011"), "456##411");
    EXPECT_EQ(frameText("12345678##3"), "12345678##7");
    EXPECT_EQ(frameText("123#R"), "123#R");
    EXPECT_EQ(frameText("123#r4"), "123#R4");
    EXPECT_EQ(frameText("20000080#0000000000000000"), "20000080#0000000000000000");
    EXPECT_EQ(frameText("123#11.22.33"), "123#112233");
    EXPECT_EQ(frameText("123#1122334455667788_9"), "123#1122334455667788");
}

TEST(CandumpFormat, RejectsInvalidFramesSayingWhy)
{
    EXPECT_EQ(whyRejected("123#112233445566778899"),
              "more than 8 data bytes on a classic CAN frame (use '##' for CAN FD)");
    EXPECT_EQ(whyRejected("800#11"), "standard id 800 is out of range (at most 7FF)");
    EXPECT_EQ(whyRejected("40000000#11"), "extended id 40000000 is out of range (at most 1FFFFFFF)");
    EXPECT_EQ(whyRejected("A0000000#11"), "error frame id A0000000 is out of range (at most 3FFFFFFF)");
    EXPECT_EQ(whyRejected("1234#11"), "the id must be 3 hex digits (standard) or 8 (extended)");
    EXPECT_EQ(whyRejected("12G#11"), "the id is not hex");
    EXPECT_EQ(whyRejected("123#1G"), "bad hex '1G' in the data");
    EXPECT_EQ(whyRejected("123#112"), "odd number of hex digits in the data");
    EXPECT_EQ(whyRejected("123"), "no '#' between id and data");
    EXPECT_EQ(whyRejected("123##"), "'##' must be followed by the FD flags nibble 0..7 (BRS 1, ESI 2)");
    EXPECT_EQ(whyRejected("123##0112233445566778899"),
              "9 data bytes is not a CAN FD length (0..8, 12, 16, 20, 24, 32, 48, 64)");
    EXPECT_EQ(whyRejected("123#R9"), "a remote frame takes only a length digit 0..8 after 'R'");
    EXPECT_EQ(whyRejected("20000080##0"), "an error frame cannot be a CAN FD frame");
}

TEST(CandumpFormat, WritesCandumpLogLines)
{
    std::string why;
    auto frame = CandumpFormat::parseFrame("123#DEADBEEF", why);
    ASSERT_TRUE(frame);
    EXPECT_EQ(CandumpFormat::logLine(*frame, 1699999999'123456789, "vcan0"), "(1699999999.123456) vcan0 123#DEADBEEF");
    EXPECT_EQ(CandumpFormat::logLine(*frame, 1'000'001'000, "can 1"), "(0000000001.000001) can_1 123#DEADBEEF");

    CandumpFormat::Encoder encoder({});
    Message message;
    message.kind = MessageKind::CanFrame;
    message.timestampNs = 1700000000'000042000;
    message.peer = "vcan1";
    message.ifindex = 7;
    message.source = "bus";
    frame->appendTo(message.data);
    std::vector<uint8_t> out;
    ASSERT_TRUE(encoder.encode(message, out));
    EXPECT_EQ(std::string(out.begin(), out.end()), "(1700000000.000042) vcan1 123#DEADBEEF\n");

    message.ifindex = 0;  // not from a CAN interface: the source listener names it
    out.clear();
    ASSERT_TRUE(encoder.encode(message, out));
    EXPECT_EQ(std::string(out.begin(), out.end()), "(1700000000.000042) bus 123#DEADBEEF\n");

    Message text;
    text.data = {'h', 'i'};
    out.clear();
    EXPECT_FALSE(encoder.encode(text, out));
    EXPECT_TRUE(out.empty());
}

TEST(CandumpFormat, DecodesLogLinesBareFramesAndSkipsComments)
{
    EXPECT_THAT(decode("(1699999999.123456) vcan0 123#DEADBEEF\n"
                       "# a comment\n"
                       "\n"
                       "12345678##1AABB\r\n"
                       "(1699999999.123457) can1 7DF#R T\n"
                       "123#01"),
                ::testing::ElementsAre("123#DEADBEEF", "12345678##5AABB", "7DF#R", "123#01"));
}

TEST(CandumpFormat, DecoderFailsOnAnInvalidLineNamingIt)
{
    EXPECT_THAT(decode("123#01\n123#112233445566778899\n456#02\n"),
                ::testing::ElementsAre("123#01", "error: bad candump line \"123#112233445566778899\": more than 8 "
                                                 "data bytes on a classic CAN frame (use '##' for CAN FD)"));
    EXPECT_THAT(decode("(1699999999) vcan0 123#01\n"),
                ::testing::ElementsAre("error: bad candump line \"(1699999999) vcan0 123#01\": bad timestamp "
                                       "(expected '(SECONDS.MICROSECONDS)')"));
    EXPECT_THAT(decode("(1.000000) vcan0 123#01 extra\n"),
                ::testing::ElementsAre("error: bad candump line \"(1.000000) vcan0 123#01 extra\": unexpected text "
                                       "after the frame"));
}

TEST(CandumpFormat, DecoderJoinsLinesSplitAcrossFeeds)
{
    CandumpFormat::Decoder decoder({});
    std::vector<Payload> payloads;
    std::string a = "(1.000000) vc", b = "an0 123#0", c = "1\n7FF#\n";
    ASSERT_TRUE(decoder.feed({reinterpret_cast<const uint8_t *>(a.data()), a.size()}, payloads));
    ASSERT_TRUE(decoder.feed({reinterpret_cast<const uint8_t *>(b.data()), b.size()}, payloads));
    EXPECT_EQ(decoder.pending(), a.size() + b.size());
    ASSERT_TRUE(decoder.feed({reinterpret_cast<const uint8_t *>(c.data()), c.size()}, payloads));
    ASSERT_EQ(payloads.size(), 2u);
    EXPECT_EQ(payloads[0], (Payload{0, 0, 1, 0x23, 1, 0, 0, 0, 0x01}));
    EXPECT_EQ(payloads[1], (Payload{0, 0, 7, 0xff, 0, 0, 0, 0}));
}

// Found by fuzz_candump: a line over the limit was refused when it came in pieces but accepted
// (a comment, skipped) when it came in one read, so the verdict depended on TCP segmentation.
TEST(CandumpFormat, RefusesAnOverlongLineWhetherItComesWholeOrInPieces)
{
    FormatOptions options;
    options.maxMessage = 512;
    const std::string line = "# " + std::string(600, 'x') + "\n7FF#00\n";
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t *>(line.data()), line.size());

    CandumpFormat::Decoder whole(options);
    std::vector<Payload> payloads;
    EXPECT_FALSE(whole.feed(bytes, payloads));
    EXPECT_EQ(whole.error(), "line longer than 512 bytes");

    CandumpFormat::Decoder pieces(options);
    bool ok = true;
    for (size_t at = 0; ok && at < bytes.size(); at += 7) ok = pieces.feed(bytes.subspan(at, std::min<size_t>(7, bytes.size() - at)), payloads);
    EXPECT_FALSE(ok);
    EXPECT_EQ(pieces.error(), "line longer than 512 bytes");
    EXPECT_TRUE(payloads.empty());
}
