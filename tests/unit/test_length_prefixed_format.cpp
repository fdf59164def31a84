// SPDX-License-Identifier: MIT
// Tests for LengthPrefixedFormat: u32 big-endian length framing, limits, finish() and encoder.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "formats/length_prefixed_format.h"
#include "format_test_helpers.h"

using namespace sockbridge;
using sockbridge::test::bytesOf;

namespace {

Payload concat(std::initializer_list<Payload> parts)
{
    Payload all;
    for (const Payload &part : parts)
        all.insert(all.end(), part.begin(), part.end());
    return all;
}

// "hello", "" and {0x00, 0xff} as three frames.
const Payload kThreeFrames{
    0x00, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o',
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0xff,
};
const std::vector<Payload> kThreePayloads{bytesOf("hello"), {}, {0x00, 0xff}};

}  // namespace

TEST(LengthPrefixedFormat, IsRegisteredAsFramingStreams)
{
    const FormatKind *kind = findFormat("length-prefixed");
    ASSERT_NE(kind, nullptr);
    EXPECT_TRUE(kind->framesStream);
}

TEST(LengthPrefixedFormat, DecodesOneFrame)
{
    auto decoder = findFormat("length-prefixed")->makeDecoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder->feed(Payload{0x00, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'}, out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], bytesOf("hello"));
    EXPECT_EQ(decoder->pending(), 0u);
}

TEST(LengthPrefixedFormat, DecodesSeveralFramesFromOneFeed)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(kThreeFrames, out));
    EXPECT_EQ(out, kThreePayloads);
}

TEST(LengthPrefixedFormat, YieldsZeroLengthFrameAsEmptyPayload)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(Payload{0x00, 0x00, 0x00, 0x00}, out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].empty());
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LengthPrefixedFormat, ReassemblesFramesSplitAtEveryByteBoundary)
{
    for (size_t split = 0; split <= kThreeFrames.size(); ++split) {
        SCOPED_TRACE(split);
        LengthPrefixedFormat::Decoder decoder(FormatOptions{});
        std::vector<Payload> out;
        const std::span<const uint8_t> all(kThreeFrames);
        ASSERT_TRUE(decoder.feed(all.first(split), out));
        ASSERT_TRUE(decoder.feed(all.subspan(split), out));
        EXPECT_EQ(out, kThreePayloads);
        EXPECT_EQ(decoder.pending(), 0u);
    }
}

TEST(LengthPrefixedFormat, ReassemblesFramesFedOneByteAtATime)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    for (size_t i = 0; i < kThreeFrames.size(); ++i)
        ASSERT_TRUE(decoder.feed(std::span(kThreeFrames).subspan(i, 1), out));
    EXPECT_EQ(out, kThreePayloads);
}

TEST(LengthPrefixedFormat, CountsPendingHeaderAndBodyBytes)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(Payload{0x00, 0x00}, out));
    EXPECT_EQ(decoder.pending(), 2u);
    ASSERT_TRUE(decoder.feed(Payload{0x00, 0x03, 'a', 'b'}, out));
    EXPECT_EQ(decoder.pending(), 6u);
    EXPECT_TRUE(out.empty());
}

TEST(LengthPrefixedFormat, RejectsOversizeLengthPrefix)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(Payload{0xff, 0xff, 0xff, 0xff}, out));
    EXPECT_EQ(decoder.error(),
              "length prefix 4294967295 exceeds the maximum message size of 65536 bytes");
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LengthPrefixedFormat, AcceptsLengthOfExactlyMaxMessageAndRejectsOneMore)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{.maxMessage = 3});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(Payload{0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c'}, out));
    EXPECT_EQ(out, std::vector<Payload>{bytesOf("abc")});
    EXPECT_FALSE(decoder.feed(Payload{0x00, 0x00, 0x00, 0x04}, out));
    EXPECT_EQ(decoder.error(), "length prefix 4 exceeds the maximum message size of 3 bytes");
}

TEST(LengthPrefixedFormat, YieldsFramesBeforeTheOversizeOne)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{.maxMessage = 3});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(Payload{0x00, 0x00, 0x00, 0x01, 'a', 0x01, 0x00, 0x00, 0x00}, out));
    EXPECT_EQ(out, std::vector<Payload>{bytesOf("a")});
    EXPECT_EQ(decoder.error(),
              "length prefix 16777216 exceeds the maximum message size of 3 bytes");
}

TEST(LengthPrefixedFormat, StaysFailedAfterAnError)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{.maxMessage = 3});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(Payload{0x00, 0x00, 0x01, 0x00}, out));
    EXPECT_FALSE(decoder.feed(Payload{0x00, 0x00, 0x00, 0x00}, out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_TRUE(out.empty());
}

TEST(LengthPrefixedFormat, FinishBetweenFramesSucceeds)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(kThreeFrames, out));
    EXPECT_TRUE(decoder.finish(out));
    EXPECT_EQ(out, kThreePayloads);
}

TEST(LengthPrefixedFormat, FinishReportsPartialFrame)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(Payload{0x00, 0x00, 0x00, 0x05, 'h', 'e'}, out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_EQ(decoder.error(), "stream ended inside a frame (2 of 5 bytes)");
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LengthPrefixedFormat, FinishReportsPartialLengthPrefix)
{
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(Payload{0x00, 0x00}, out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_EQ(decoder.error(), "stream ended inside a length prefix (2 of 4 bytes)");
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LengthPrefixedFormat, EncoderWritesBigEndianLengthThenBytes)
{
    auto encoder = findFormat("length-prefixed")->makeEncoder(FormatOptions{});
    Message message;
    message.data = bytesOf("hello");
    std::vector<uint8_t> out{0xaa};
    encoder->encode(message, out);
    EXPECT_EQ(out, (Payload{0xaa, 0x00, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'}));
}

TEST(LengthPrefixedFormat, EncoderWritesAllFourLengthBytes)
{
    LengthPrefixedFormat::Encoder encoder(FormatOptions{});
    Message message;
    message.data.assign(0x01'02'03, 'z');
    std::vector<uint8_t> out;
    encoder.encode(message, out);
    ASSERT_EQ(out.size(), 4u + 0x01'02'03);
    EXPECT_EQ(Payload(out.begin(), out.begin() + 4), (Payload{0x00, 0x01, 0x02, 0x03}));
}

TEST(LengthPrefixedFormat, EncoderWritesEmptyMessageAsZeroLength)
{
    LengthPrefixedFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> out;
    encoder.encode(Message{}, out);
    EXPECT_EQ(out, (Payload{0x00, 0x00, 0x00, 0x00}));
}

TEST(LengthPrefixedFormat, RoundTripKeepsMessages)
{
    LengthPrefixedFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> wire;
    for (const Payload &payload : kThreePayloads) {
        Message message;
        message.data = payload;
        encoder.encode(message, wire);
    }
    EXPECT_EQ(wire, kThreeFrames);

    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(wire, out));
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_EQ(out, kThreePayloads);
}

// The example in docs/formats.md.
TEST(LengthPrefixedFormat, DecodesDocumentedExample)
{
    const Payload wire = concat({{0x00, 0x00, 0x00, 0x02, 0x68, 0x69},
                                 {0x00, 0x00, 0x00, 0x00},
                                 {0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0xff}});
    LengthPrefixedFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(wire, out));
    EXPECT_EQ(out, (std::vector<Payload>{bytesOf("hi"), {}, {0x01, 0x00, 0xff}}));
}
