// SPDX-License-Identifier: MIT
// Tests for JsonlFormat: the encoded line byte for byte, text/base64/hex decoding and its errors.
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "formats/jsonl_format.h"
#include "format_test_helpers.h"

using namespace sockbridge;
using sockbridge::test::bytesOf;
using sockbridge::test::payloadsOf;
using sockbridge::test::stringOf;
using ::testing::StartsWith;

namespace {

Message messageOf(Payload data)
{
    Message message;
    message.kind = MessageKind::Bytes;
    message.data = std::move(data);
    message.timestampNs = 1'795'000'000'123'456'789;  // 2026-11-18T11:06:40.123456789Z
    message.source = "tcp-in";
    message.peer = "127.0.0.1:5000";
    return message;
}

std::string encode(const Message &message)
{
    JsonlFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> out;
    encoder.encode(message, out);
    return stringOf(out);
}

// Decodes the whole input, finish() included; returns the error, or "" on success.
std::string decodeAll(std::string_view input, std::vector<Payload> &out,
                      FormatOptions options = FormatOptions{})
{
    JsonlFormat::Decoder decoder(options);
    if (!decoder.feed(bytesOf(input), out) || !decoder.finish(out))
        return decoder.error().empty() ? "(no error text)" : decoder.error();
    return "";
}

std::string decodeError(std::string_view input, FormatOptions options = FormatOptions{})
{
    std::vector<Payload> out;
    return decodeAll(input, out, options);
}

}  // namespace

TEST(JsonlFormat, IsRegisteredAsFramingStreams)
{
    const FormatKind *kind = findFormat("jsonl");
    ASSERT_NE(kind, nullptr);
    EXPECT_TRUE(kind->framesStream);
}

TEST(JsonlFormat, EncodesFixedMessageAsExactLine)
{
    auto encoder = findFormat("jsonl")->makeEncoder(FormatOptions{});
    std::vector<uint8_t> out;
    encoder->encode(messageOf(bytesOf("hello")), out);
    EXPECT_EQ(stringOf(out),
              R"({"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,)"
              R"("source":"tcp-in","peer":"127.0.0.1:5000","kind":"bytes","len":5,"text":"hello"})"
              "\n");
}

TEST(JsonlFormat, EncodesBinaryPayloadAsBase64)
{
    Message message = messageOf({0x00, 0xff, 0x10, 'a'});
    message.kind = MessageKind::Datagram;
    message.peer = "";
    EXPECT_EQ(encode(message),
              R"({"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,)"
              R"("source":"tcp-in","peer":"","kind":"datagram","len":4,"base64":"AP8QYQ=="})"
              "\n");
}

TEST(JsonlFormat, EncodesTimestampBeforeTheEpochInUtc)
{
    Message message = messageOf(bytesOf("x"));
    message.timestampNs = -1;
    EXPECT_THAT(encode(message),
                StartsWith(R"({"ts":"1969-12-31T23:59:59.999999999Z","ts_ns":-1,)"));
    message.timestampNs = 0;
    EXPECT_THAT(encode(message), StartsWith(R"({"ts":"1970-01-01T00:00:00.000000000Z","ts_ns":0,)"));
}

TEST(JsonlFormat, EscapesQuotesBackslashesAndWhitespaceInText)
{
    const std::string line = encode(messageOf(bytesOf("say \"hi\" \\ \t\r\n")));
    EXPECT_THAT(line, ::testing::EndsWith(R"("len":14,"text":"say \"hi\" \\ \t\r\n"})"
                                          "\n"));
}

TEST(JsonlFormat, KeepsNonAsciiUtf8AsText)
{
    const std::string line = encode(messageOf(bytesOf("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")));
    EXPECT_THAT(line, ::testing::EndsWith(
                          "\"len\":12,\"text\":\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}\n"));
}

TEST(JsonlFormat, UsesBase64ForControlCharactersInvalidUtf8AndDel)
{
    for (std::string_view data : {std::string_view("a\x01z"), std::string_view("\0", 1),
                                  std::string_view("a\x7f"), std::string_view("\xc2\x85"),
                                  std::string_view("\xc3\x28"), std::string_view("\xc0\xaf"),
                                  std::string_view("\xed\xa0\x80"), std::string_view("\xe2\x82")}) {
        SCOPED_TRACE(testing::PrintToString(std::string(data)));
        const std::string line = encode(messageOf(bytesOf(data)));
        EXPECT_NE(line.find("\"base64\":\""), std::string::npos) << line;
        EXPECT_EQ(line.find("\"text\""), std::string::npos) << line;
    }
}

TEST(JsonlFormat, EscapesControlCharactersAndInvalidUtf8InSourceAndPeer)
{
    Message message = messageOf(bytesOf("x"));
    message.source = "a\x01\"b";
    message.peer = "/tmp/\xff";
    const std::string line = encode(message);
    EXPECT_NE(line.find(R"("source":"a\u0001\"b","peer":"/tmp/\ufffd",)"), std::string::npos)
        << line;
}

TEST(JsonlFormat, DecodesTextBase64AndHexLines)
{
    auto decoder = findFormat("jsonl")->makeDecoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder->feed(bytesOf(R"({"text":"hello","source":"ignored"})"
                                      "\n"
                                      R"({"base64":"AQD/"})"
                                      "\n"
                                      R"({"hex":"00Ff10"})"
                                      "\n"),
                              out));
    EXPECT_EQ(out, (std::vector<Payload>{bytesOf("hello"), {0x01, 0x00, 0xff}, {0x00, 0xff, 0x10}}));
    EXPECT_EQ(decoder->pending(), 0u);
}

TEST(JsonlFormat, DecodesJsonEscapesInText)
{
    std::vector<Payload> out;
    ASSERT_EQ(decodeAll(R"({"text":"a\u00e9\n\"\\\u0000"})", out), "");
    EXPECT_EQ(out, payloadsOf({std::string_view("a\xc3\xa9\n\"\\\0", 7)}));
}

TEST(JsonlFormat, DecodesEmptyPayloads)
{
    std::vector<Payload> out;
    ASSERT_EQ(decodeAll("{\"text\":\"\"}\n{\"base64\":\"\"}\n{\"hex\":\"\"}\n", out), "");
    EXPECT_EQ(out, payloadsOf({"", "", ""}));
}

TEST(JsonlFormat, SkipsBlankLinesAndCrLf)
{
    std::vector<Payload> out;
    ASSERT_EQ(decodeAll("\n  \t\r\n{\"text\":\"a\"}\r\n\n{\"text\":\"b\"}", out), "");
    EXPECT_EQ(out, payloadsOf({"a", "b"}));
}

TEST(JsonlFormat, ReassemblesLinesSplitAtEveryByteBoundary)
{
    const std::string input = encode(messageOf(bytesOf("one"))) +
                              encode(messageOf({0x00, 0x01})) + "\n" +
                              encode(messageOf(bytesOf("three")));
    for (size_t split = 0; split <= input.size(); ++split) {
        SCOPED_TRACE(split);
        JsonlFormat::Decoder decoder(FormatOptions{});
        std::vector<Payload> out;
        ASSERT_TRUE(decoder.feed(bytesOf(input.substr(0, split)), out)) << decoder.error();
        ASSERT_TRUE(decoder.feed(bytesOf(input.substr(split)), out)) << decoder.error();
        EXPECT_EQ(out, (std::vector<Payload>{bytesOf("one"), {0x00, 0x01}, bytesOf("three")}));
    }
}

TEST(JsonlFormat, FinishDecodesUnterminatedLastLine)
{
    JsonlFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf(R"({"text":"last"})"), out));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(decoder.pending(), 15u);
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_EQ(out, payloadsOf({"last"}));
}

TEST(JsonlFormat, RejectsMalformedJsonNamingTheLine)
{
    std::vector<Payload> out;
    const std::string error = decodeAll("{\"text\":\"a\"}\n\n{\"text\":\"b\"\n{\"text\":\"c\"}\n", out);
    EXPECT_EQ(error, "line 3: invalid JSON: column 12: syntax error while parsing object - "
                     "unexpected end of input; expected '}'");
    EXPECT_EQ(out, payloadsOf({"a"}));
}

TEST(JsonlFormat, RejectsTrailingGarbageAfterTheObject)
{
    EXPECT_THAT(decodeError("{\"text\":\"a\"} x\n"), StartsWith("line 1: invalid JSON: "));
}

TEST(JsonlFormat, RejectsMalformedUnterminatedLastLineAtFinish)
{
    JsonlFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("{\"text\":\"a\"}\n{\"te"), out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_THAT(decoder.error(), StartsWith("line 2: invalid JSON: "));
}

TEST(JsonlFormat, RejectsLineWithoutDataKey)
{
    EXPECT_EQ(decodeError("{\"ts\":\"2026-11-18T11:06:40Z\",\"len\":1}\n"),
              "line 1: no \"text\", \"base64\" or \"hex\" key");
}

TEST(JsonlFormat, RejectsLineWithTwoDataKeys)
{
    EXPECT_EQ(decodeError("{\"text\":\"a\",\"hex\":\"61\"}\n"),
              "line 1: more than one of \"text\", \"base64\" and \"hex\"");
}

TEST(JsonlFormat, RejectsLineThatIsNotAnObject)
{
    EXPECT_EQ(decodeError("[\"text\"]\n"), "line 1: not a JSON object");
    EXPECT_EQ(decodeError("\"text\"\n"), "line 1: not a JSON object");
}

TEST(JsonlFormat, RejectsDataThatIsNotAString)
{
    EXPECT_EQ(decodeError("{\"text\":5}\n"), "line 1: \"text\" is not a string");
    EXPECT_EQ(decodeError("{\"base64\":null}\n"), "line 1: \"base64\" is not a string");
}

TEST(JsonlFormat, RejectsBadBase64)
{
    EXPECT_EQ(decodeError("{\"base64\":\"AP8QYQ=\"}\n"),
              "line 1: invalid base64: length 7 is not a multiple of 4");
    EXPECT_EQ(decodeError("{\"base64\":\"AP8*YQ==\"}\n"),
              "line 1: invalid base64: unexpected character '*' at offset 3");
    EXPECT_EQ(decodeError("{\"base64\":\"A===\"}\n"),
              "line 1: invalid base64: unexpected character '=' at offset 1");
    EXPECT_EQ(decodeError("{\"base64\":\"AP8Q YQ=\"}\n"),
              "line 1: invalid base64: unexpected character ' ' at offset 4");
    EXPECT_EQ(decodeError("{\"base64\":\"AP8QYR==\"}\n"),
              "line 1: invalid base64: non-zero bits in the last character");
    EXPECT_EQ(decodeError("{\"base64\":\"AQE=\"}\n"), "");
    EXPECT_EQ(decodeError("{\"base64\":\"AQF=\"}\n"),
              "line 1: invalid base64: non-zero bits in the last character");
    EXPECT_EQ(decodeError("{\"base64\":\"AP8Q\\nYQ=\"}\n"),
              "line 1: invalid base64: unexpected byte 0x0a at offset 4");
}

TEST(JsonlFormat, RejectsBadHex)
{
    EXPECT_EQ(decodeError("{\"hex\":\"abc\"}\n"), "line 1: invalid hex: odd number of digits (3)");
    EXPECT_EQ(decodeError("{\"hex\":\"0g\"}\n"),
              "line 1: invalid hex: unexpected character 'g' at offset 1");
}

TEST(JsonlFormat, RejectsPayloadLargerThanMaxMessage)
{
    EXPECT_EQ(decodeError("{\"text\":\"abcd\"}\n{\"hex\":\"0102030405\"}\n",
                          FormatOptions{.maxMessage = 4}),
              "line 2: message of 5 bytes exceeds the maximum message size of 4 bytes");
}

TEST(JsonlFormat, RejectsOverlongLine)
{
    // Lines may be 6 x maxMessage + 4096 bytes, room for a payload written with \u escapes.
    const std::string line(5000, ' ');
    EXPECT_EQ(decodeError("\n" + line, FormatOptions{.maxMessage = 100}),
              "line 2: line longer than 4696 bytes");
}

TEST(JsonlFormat, StaysFailedAfterAnError)
{
    JsonlFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder.feed(bytesOf("nope\n"), out));
    const std::string error = decoder.error();
    EXPECT_FALSE(decoder.feed(bytesOf("{\"text\":\"a\"}\n"), out));
    EXPECT_FALSE(decoder.finish(out));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(decoder.error(), error);
}

TEST(JsonlFormat, CountsLinesAgainAfterFinish)
{
    JsonlFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(bytesOf("{\"text\":\"a\"}\n\n"), out));
    ASSERT_TRUE(decoder.finish(out));
    EXPECT_FALSE(decoder.feed(bytesOf("{}\n"), out));
    EXPECT_EQ(decoder.error(), "line 1: no \"text\", \"base64\" or \"hex\" key");
}

TEST(JsonlFormat, RoundTripsEveryByteValueThroughBase64)
{
    Payload all;
    for (int i = 0; i < 256; ++i)
        all.push_back(uint8_t(i));
    const std::string line = encode(messageOf(all));
    EXPECT_NE(line.find("\"base64\":\"AAECAwQFBgcICQoLDA0O"), std::string::npos);

    std::vector<Payload> out;
    ASSERT_EQ(decodeAll(line, out), "");
    EXPECT_EQ(out, std::vector<Payload>{all});
}

TEST(JsonlFormat, RoundTripsPayloadsOfEveryLengthModuloThree)
{
    JsonlFormat::Encoder encoder(FormatOptions{});
    std::vector<uint8_t> wire;
    std::vector<Payload> expected;
    for (size_t length = 0; length < 8; ++length) {
        Payload payload(length, 0xfe);
        encoder.encode(messageOf(payload), wire);
        expected.push_back(payload);
    }
    JsonlFormat::Decoder decoder(FormatOptions{});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder.feed(wire, out)) << decoder.error();
    EXPECT_EQ(out, expected);
}

TEST(JsonlFormat, RoundTripsTextWithEscapes)
{
    const Payload text = bytesOf("{\"q\": \"a\\b\"}\t\r\n\xc3\xa9");
    std::vector<Payload> out;
    ASSERT_EQ(decodeAll(encode(messageOf(text)), out), "");
    EXPECT_EQ(out, std::vector<Payload>{text});
}

// The example in docs/formats.md.
TEST(JsonlFormat, DecodesDocumentedExample)
{
    const std::string wire =
        R"({"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,)"
        R"("source":"tcp-in","peer":"127.0.0.1:5000","kind":"bytes","len":2,"text":"hi"})"
        "\n"
        R"({"ts":"2026-11-18T11:06:40.123456789Z","ts_ns":1795000000123456789,)"
        R"("source":"tcp-in","peer":"127.0.0.1:5000","kind":"bytes","len":3,"base64":"AQD/"})"
        "\n";
    EXPECT_EQ(encode(messageOf(bytesOf("hi"))) + encode(messageOf({0x01, 0x00, 0xff})), wire);
    std::vector<Payload> out;
    ASSERT_EQ(decodeAll(wire, out), "");
    EXPECT_EQ(out, (std::vector<Payload>{bytesOf("hi"), {0x01, 0x00, 0xff}}));
}
