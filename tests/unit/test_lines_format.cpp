// SPDX-License-Identifier: MIT
// Tests for LinesFormat: "\n" / "\r\n" framing, the line limit, finish() and the encoder.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "formats/lines_format.h"
#include "format_test_helpers.h"

using namespace sockbridge;
using sockbridge::test::bytesOf;
using sockbridge::test::payloadsOf;
using sockbridge::test::stringOf;

TEST(LinesFormat, IsRegisteredAsFramingStreams)
{
    const FormatKind *kind = findFormat("lines");
    ASSERT_NE(kind, nullptr);
    EXPECT_TRUE(kind->framesStream);
}

TEST(LinesFormat, YieldsOneLineWithoutItsTerminator)
{
    auto decoder = findFormat("lines")->makeDecoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder->feed(bytesOf("hello\n"), out));
    EXPECT_EQ(out, payloadsOf({"hello"}));
    EXPECT_EQ(decoder->pending(), 0u);
}

TEST(LinesFormat, YieldsSeveralLinesFromOneFeed)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("a\nbb\r\n\nccc\nrest"), out));
    EXPECT_EQ(out, payloadsOf({"a", "bb", "", "ccc"}));
    EXPECT_EQ(decoder.pending(), 4u);
}

TEST(LinesFormat, StripsOnlyOneCarriageReturnRightBeforeNewline)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("a\rb\nc\r\r\n\r\n"), out));
    EXPECT_EQ(out, payloadsOf({"a\rb", "c\r", ""}));
}

TEST(LinesFormat, ReassemblesLinesSplitAtEveryByteBoundary)
{
    const std::string input = "hello\r\nworld\n\nx\ry\n";
    const auto expected = payloadsOf({"hello", "world", "", "x\ry"});
    for (size_t split = 0; split <= input.size(); ++split) {
        SCOPED_TRACE(split);
        LinesFormat::Decoder decoder(FormatOptions{});
        std::vector<Payload> out;
        ASSERT_TRUE(decoder.feed(bytesOf(input.substr(0, split)), out));
        ASSERT_TRUE(decoder.feed(bytesOf(input.substr(split)), out));
        EXPECT_EQ(out, expected);
        EXPECT_EQ(decoder.pending(), 0u);
    }
}

TEST(LinesFormat, ReassemblesLinesFedOneByteAtATime)
{
    const std::string input = "hello\r\nworld\n\nx\ry\n";
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    for (char c : input)
        ASSERT_TRUE(decoder.feed(bytesOf(std::string(1, c)), out));
    EXPECT_EQ(out, payloadsOf({"hello", "world", "", "x\ry"}));
}

TEST(LinesFormat, KeepsUnterminatedLinePending)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abc"), out));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(decoder.pending(), 3u);
    ASSERT_TRUE(decoder.feed(bytesOf("def\n"), out));
    EXPECT_EQ(out, payloadsOf({"abcdef"}));
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LinesFormat, RejectsLineLongerThanMaxMessage)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    const std::string line = std::string(65537, 'x') + "\n";
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(bytesOf(line), out));
    EXPECT_EQ(decoder.error(), "line longer than 65536 bytes");
    EXPECT_TRUE(out.empty());
}

TEST(LinesFormat, AcceptsLineOfExactlyMaxMessageBytesWithCrLf)
{
    LinesFormat::Decoder decoder(FormatOptions{.maxMessage = 4});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abcd\n"), out));
    ASSERT_TRUE(decoder.feed(bytesOf("efgh\r"), out));  // the "\r" may still be a terminator
    ASSERT_TRUE(decoder.feed(bytesOf("\n"), out));
    EXPECT_EQ(out, payloadsOf({"abcd", "efgh"}));
}

TEST(LinesFormat, RejectsOversizeLineBeforeItsNewlineArrives)
{
    LinesFormat::Decoder decoder(FormatOptions{.maxMessage = 4});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abc"), out));
    EXPECT_FALSE(decoder.feed(bytesOf("de"), out));
    EXPECT_EQ(decoder.error(), "line longer than 4 bytes");
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LinesFormat, RejectsOversizeLineWhenCarriageReturnIsNotFollowedByNewline)
{
    LinesFormat::Decoder decoder(FormatOptions{.maxMessage = 4});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abcd\r"), out));
    EXPECT_FALSE(decoder.feed(bytesOf("x"), out));
    EXPECT_EQ(decoder.error(), "line longer than 4 bytes");
}

TEST(LinesFormat, YieldsLinesBeforeTheOversizeOne)
{
    LinesFormat::Decoder decoder(FormatOptions{.maxMessage = 4});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(bytesOf("ok\ntoolong\nnever\n"), out));
    EXPECT_EQ(out, payloadsOf({"ok"}));
    EXPECT_EQ(decoder.error(), "line longer than 4 bytes");
}

TEST(LinesFormat, StaysFailedAfterAnError)
{
    LinesFormat::Decoder decoder(FormatOptions{.maxMessage = 2});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(bytesOf("abc\n"), out));
    EXPECT_FALSE(decoder.feed(bytesOf("a\n"), out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(decoder.error(), "line longer than 2 bytes");
}

TEST(LinesFormat, FinishYieldsUnterminatedLastLine)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("one\ntwo"), out));
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_EQ(out, payloadsOf({"one", "two"}));
    EXPECT_EQ(decoder.pending(), 0u);
}

TEST(LinesFormat, FinishKeepsCarriageReturnThatNoNewlineFollowed)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("two\r"), out));
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_EQ(out, payloadsOf({"two\r"}));
}

TEST(LinesFormat, FinishYieldsNothingWhenNothingIsPending)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("one\n"), out));
    out.clear();
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_TRUE(out.empty());
}

TEST(LinesFormat, FinishRejectsOversizeUnterminatedLine)
{
    LinesFormat::Decoder decoder(FormatOptions{.maxMessage = 4});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("abcd\r"), out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_EQ(decoder.error(), "line longer than 4 bytes");
    EXPECT_TRUE(out.empty());
}

TEST(LinesFormat, DecoderIsReusableAfterFinish)
{
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("first"), out));
    ASSERT_TRUE(decoder.finish(out));
    ASSERT_TRUE(decoder.feed(bytesOf("second\n"), out));
    EXPECT_EQ(out, payloadsOf({"first", "second"}));
}

TEST(LinesFormat, EncoderAppendsNewline)
{
    auto encoder = findFormat("lines")->makeEncoder(FormatOptions{});
    Message message;
    message.data = bytesOf("hi");
    std::vector<uint8_t> out = bytesOf(">");
    encoder->encode(message, out);
    EXPECT_EQ(stringOf(out), ">hi\n");
}

TEST(LinesFormat, EncoderDoesNotDoubleExistingNewline)
{
    LinesFormat::Encoder encoder(FormatOptions{});
    Message message;
    message.data = bytesOf("hi\n");
    std::vector<uint8_t> out;
    encoder.encode(message, out);
    EXPECT_EQ(stringOf(out), "hi\n");
}

TEST(LinesFormat, EncoderWritesEmptyMessageAsEmptyLine)
{
    LinesFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> out;
    encoder.encode(Message{}, out);
    EXPECT_EQ(stringOf(out), "\n");
}

TEST(LinesFormat, RoundTripKeepsLines)
{
    LinesFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> wire;
    for (std::string_view text : {"alpha", "", "b\xc3\xa9ta \t gamma", "x\ry"}) {
        Message message;
        message.data = bytesOf(text);
        encoder.encode(message, wire);
    }
    EXPECT_EQ(stringOf(wire), "alpha\n\nb\xc3\xa9ta \t gamma\nx\ry\n");

    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(wire, out));
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_EQ(out, payloadsOf({"alpha", "", "b\xc3\xa9ta \t gamma", "x\ry"}));
}

// The example in docs/formats.md.
TEST(LinesFormat, DecodesDocumentedExample)
{
    const Payload wire{0x68, 0x69, 0x0a, 0x6f, 0x6b, 0x0d, 0x0a};
    LinesFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(wire, out));
    EXPECT_EQ(out, payloadsOf({"hi", "ok"}));
}
