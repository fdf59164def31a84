// SPDX-License-Identifier: MIT
// Tests for RawFormat: one fed chunk is one message, split at maxMessage.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "formats/raw_format.h"
#include "format_test_helpers.h"

using namespace sockbridge;
using sockbridge::test::bytesOf;
using sockbridge::test::payloadsOf;

TEST(RawFormat, IsRegisteredAsNotFramingStreams)
{
    const FormatKind *kind = findFormat("raw");
    ASSERT_NE(kind, nullptr);
    EXPECT_EQ(kind->name, "raw");
    EXPECT_FALSE(kind->framesStream);
}

TEST(RawFormat, YieldsEachChunkAsOnePayload)
{
    auto decoder = findFormat("raw")->makeDecoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder->feed(bytesOf("hello\nworld"), out));
    ASSERT_TRUE(decoder->feed(bytesOf("!"), out));
    EXPECT_EQ(out, payloadsOf({"hello\nworld", "!"}));
    EXPECT_EQ(decoder->pending(), 0u);
}

TEST(RawFormat, KeepsBinaryBytesAsTheyAre)
{
    RawFormat::Decoder decoder(FormatOptions{});
    const Payload binary{0x00, 0xff, 0x0a, 0x0d, 0x80};
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(binary, out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], binary);
}

TEST(RawFormat, IgnoresEmptyChunk)
{
    RawFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed({}, out));
    EXPECT_TRUE(out.empty());
}

TEST(RawFormat, SplitsChunkLongerThanMaxMessage)
{
    RawFormat::Decoder decoder(FormatOptions{.maxMessage = 4});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abcdefghij"), out));
    EXPECT_EQ(out, payloadsOf({"abcd", "efgh", "ij"}));
}

TEST(RawFormat, SplitsDefaultSizedChunkAtExactly65536Bytes)
{
    RawFormat::Decoder decoder(FormatOptions{});
    const Payload big(65536 * 2 + 1, 'x');
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(big, out));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].size(), 65536u);
    EXPECT_EQ(out[1].size(), 65536u);
    EXPECT_EQ(out[2].size(), 1u);
}

TEST(RawFormat, ChunkSplitAtAnyPointGivesTwoPayloadsInOrder)
{
    const std::string input = "abc\ndef";
    for (size_t split = 1; split < input.size(); ++split) {
        SCOPED_TRACE(split);
        RawFormat::Decoder decoder(FormatOptions{});
        std::vector<Payload> out;
        ASSERT_TRUE(decoder.feed(bytesOf(input.substr(0, split)), out));
        ASSERT_TRUE(decoder.feed(bytesOf(input.substr(split)), out));
        EXPECT_EQ(out, payloadsOf({input.substr(0, split), input.substr(split)}));
    }
}

TEST(RawFormat, FinishYieldsNothingAndSucceeds)
{
    RawFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abc"), out));
    out.clear();
    EXPECT_TRUE(decoder.finish(out));
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(decoder.error().empty());
}

TEST(RawFormat, EncoderAppendsBytesAsTheyAre)
{
    auto encoder = findFormat("raw")->makeEncoder(FormatOptions{});
    Message message;
    message.data = {'h', 'i', 0x00, '\n'};
    std::vector<uint8_t> out{'>'};
    encoder->encode(message, out);
    EXPECT_EQ(out, (std::vector<uint8_t>{'>', 'h', 'i', 0x00, '\n'}));
}

TEST(RawFormat, RoundTripKeepsEveryByteValue)
{
    Message message;
    for (int i = 0; i < 256; ++i)
        message.data.push_back(uint8_t(i));
    RawFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> wire;
    encoder.encode(message, wire);

    RawFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(wire, out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], message.data);
}

// The example in docs/formats.md.
TEST(RawFormat, DecodesDocumentedExample)
{
    const Payload wire{0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0xff};
    std::vector<Payload> out;
    RawFormat::Decoder whole(FormatOptions{});
    ASSERT_TRUE(whole.feed(wire, out));
    EXPECT_EQ(out, std::vector<Payload>{wire});

    out.clear();
    RawFormat::Decoder split(FormatOptions{.maxMessage = 4});
    ASSERT_TRUE(split.feed(wire, out));
    EXPECT_EQ(out, (std::vector<Payload>{bytesOf("hell"), {0x6f, 0x00, 0xff}}));
}
