// SPDX-License-Identifier: MIT
// JsonlFormat: one JSON object a line, with metadata and the payload as text, base64 or hex.
#include "formats/jsonl_format.h"
#include "formats/hex_digit.h"

#include <array>
#include <iterator>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sockbridge {

namespace {

/*
 * The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) at the start of [p, end), and its code point; 0 when there is none.
 */
size_t utf8Sequence(const uint8_t *p, const uint8_t *end, uint32_t &codePoint)
{
    const uint8_t b0 = p[0];
    if (b0 < 0x80) {
        codePoint = b0;
        return 1;
    }

    size_t length;
    uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        length = 2;
        codePoint = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        length = 3;
        codePoint = b0 & 0x0f;
        if (b0 == 0xe0)
            lo = 0xa0;
        else if (b0 == 0xed)
            hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        length = 4;
        codePoint = b0 & 0x07;
        if (b0 == 0xf0)
            lo = 0x90;
        else if (b0 == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }

    if (size_t(end - p) < length || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 1; i < length; ++i) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        codePoint = codePoint << 6 | (p[i] & 0x3f);
    }
    return length;
}

bool isControl(uint32_t codePoint)
{
    return codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f);
}

/*
 * Whether bytes can go in "text": well-formed UTF-8 with no control character (C0, DEL, C1)
 * other than tab, newline and carriage return.
 */
bool isText(const std::vector<uint8_t> &bytes)
{
    const uint8_t *p = bytes.data();
    const uint8_t *const end = p + bytes.size();
    while (p < end) {
        uint32_t codePoint;
        const size_t length = utf8Sequence(p, end, codePoint);
        if (!length)
            return false;
        if (isControl(codePoint) && codePoint != '\t' && codePoint != '\n' && codePoint != '\r')
            return false;
        p += length;
    }
    return true;
}

/*
 * Appends bytes as a quoted JSON string. Bytes that are not well-formed UTF-8 become U+FFFD,
 * so the line stays valid JSON whatever a peer address or a name holds.
 */
void appendJsonString(std::string &out, const uint8_t *p, size_t size)
{
    const uint8_t *const end = p + size;
    out += '"';
    while (p < end) {
        uint32_t codePoint;
        const size_t length = utf8Sequence(p, end, codePoint);
        if (!length) {
            out += "\\ufffd";
            ++p;
            continue;
        }
        switch (codePoint) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (codePoint < 0x20)
                fmt::format_to(std::back_inserter(out), "\\u{:04x}", codePoint);
            else
                out.append(reinterpret_cast<const char *>(p), length);
        }
        p += length;
    }
    out += '"';
}

void appendJsonString(std::string &out, std::string_view s)
{
    appendJsonString(out, reinterpret_cast<const uint8_t *>(s.data()), s.size());
}

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> kBase64Values = [] {
    std::array<int8_t, 256> values{};
    values.fill(-1);
    for (int i = 0; i < 64; ++i)
        values[uint8_t(kBase64Alphabet[i])] = int8_t(i);
    return values;
}();

// Standard base64 (RFC 4648 section 4) with padding.
void appendBase64(std::string &out, const std::vector<uint8_t> &bytes)
{
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t v = uint32_t(bytes[i]) << 16 | uint32_t(bytes[i + 1]) << 8 | bytes[i + 2];
        out += kBase64Alphabet[v >> 18];
        out += kBase64Alphabet[(v >> 12) & 0x3f];
        out += kBase64Alphabet[(v >> 6) & 0x3f];
        out += kBase64Alphabet[v & 0x3f];
    }
    const size_t rest = bytes.size() - i;
    if (rest == 1) {
        const uint32_t v = uint32_t(bytes[i]) << 16;
        out += kBase64Alphabet[v >> 18];
        out += kBase64Alphabet[(v >> 12) & 0x3f];
        out += "==";
    } else if (rest == 2) {
        const uint32_t v = uint32_t(bytes[i]) << 16 | uint32_t(bytes[i + 1]) << 8;
        out += kBase64Alphabet[v >> 18];
        out += kBase64Alphabet[(v >> 12) & 0x3f];
        out += kBase64Alphabet[(v >> 6) & 0x3f];
        out += '=';
    }
}

std::string describeCharacter(char c, size_t offset)
{
    if (uint8_t(c) >= 0x20 && uint8_t(c) < 0x7f)
        return fmt::format("unexpected character '{}' at offset {}", c, offset);
    return fmt::format("unexpected byte 0x{:02x} at offset {}", uint8_t(c), offset);
}

/*
 * Strict base64: the standard alphabet, padded to a multiple of 4 characters, no whitespace,
 * and the unused bits of the last character zero, so every byte string has one spelling.
 */
bool decodeBase64(std::string_view text, Payload &out, std::string &why)
{
    if (text.size() % 4) {
        why = fmt::format("length {} is not a multiple of 4", text.size());
        return false;
    }
    size_t padding = 0;
    if (!text.empty() && text.back() == '=')
        padding = text[text.size() - 2] == '=' ? 2 : 1;

    const size_t digits = text.size() - padding;
    out.clear();
    out.reserve(digits * 3 / 4);
    uint32_t bits = 0;
    for (size_t i = 0; i < digits; ++i) {
        const int8_t value = kBase64Values[uint8_t(text[i])];
        if (value < 0) {
            why = describeCharacter(text[i], i);
            return false;
        }
        bits = bits << 6 | uint32_t(value);
        if (i % 4 == 3) {
            out.push_back(uint8_t(bits >> 16));
            out.push_back(uint8_t(bits >> 8));
            out.push_back(uint8_t(bits));
            bits = 0;
        }
    }
    if (padding == 2) {
        if (bits & 0x0f) {
            why = "non-zero bits in the last character";
            return false;
        }
        out.push_back(uint8_t(bits >> 4));
    } else if (padding == 1) {
        if (bits & 0x03) {
            why = "non-zero bits in the last character";
            return false;
        }
        out.push_back(uint8_t(bits >> 10));
        out.push_back(uint8_t(bits >> 2));
    }
    return true;
}

// Hex digits in either case, two a byte, nothing between them.
bool decodeHex(std::string_view text, Payload &out, std::string &why)
{
    if (text.size() % 2) {
        why = fmt::format("odd number of digits ({})", text.size());
        return false;
    }
    out.clear();
    out.reserve(text.size() / 2);
    for (size_t i = 0; i < text.size(); i += 2) {
        const int hi = hexDigitValue(text[i]);
        const int lo = hexDigitValue(text[i + 1]);
        if (hi < 0 || lo < 0) {
            const size_t bad = hi < 0 ? i : i + 1;
            why = describeCharacter(text[bad], bad);
            return false;
        }
        out.push_back(uint8_t(hi << 4 | lo));
    }
    return true;
}

bool isBlank(const Payload &line)
{
    for (uint8_t c : line)
        if (c != ' ' && c != '\t' && c != '\r')
            return false;
    return true;
}

/*
 * nlohmann::json's messages start "[json.exception.parse_error.101] parse error at line 1,
 * column 13: ...": keep "column 13: ...", as the parser's line 1 is not the stream's.
 */
std::string jsonError(const nlohmann::json::exception &e)
{
    std::string_view what = e.what();
    if (what.starts_with("[json.exception.")) {
        const size_t close = what.find("] ");
        if (close != std::string_view::npos)
            what.remove_prefix(close + 2);
    }
    constexpr std::string_view kLineOne = "parse error at line 1, ";
    if (what.starts_with(kLineOne))
        what.remove_prefix(kLineOne.size());
    return std::string(what);
}

/*
 * Lines may be longer than the payload they carry: allow for every byte of a maxMessage payload
 * written as a "\u00XX" escape, plus room for the metadata.
 */
size_t lineLimit(size_t maxMessage)
{
    constexpr size_t kExpansion = 6;
    constexpr size_t kMetadata = 4096;
    if (maxMessage > (std::numeric_limits<size_t>::max() - kMetadata) / kExpansion)
        return std::numeric_limits<size_t>::max();
    return maxMessage * kExpansion + kMetadata;
}

}  // namespace

/**
 * \class JsonlFormat::Decoder
 * \brief Reads one JSON object a line and yields the payload it carries
 *
 * Framing is LinesFormat's. Each non-blank line must be a JSON object with exactly one of
 * "text" (a string, yielded as its UTF-8 bytes), "base64" (strict, padded, standard alphabet)
 * or "hex"; other keys ("ts", "source", ...) are ignored, so the encoder's output reads back.
 * Errors name the line, counted from 1 since construction or the last finish().
 *
 * A line may be up to 6 x maxMessage + 4096 bytes; the payload it decodes to must still fit in
 * FormatOptions::maxMessage.
 */
JsonlFormat::Decoder::Decoder(const FormatOptions &options)
    : maxMessage_(options.maxMessage),
      lines_(FormatOptions{.maxMessage = lineLimit(options.maxMessage)})
{
}

bool JsonlFormat::Decoder::fail(size_t lineNumber, const std::string &why)
{
    failed_ = true;
    error_ = fmt::format("line {}: {}", lineNumber, why);
    return false;
}

bool JsonlFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    if (failed_)
        return false;
    std::vector<Payload> lines;
    const bool framed = lines_.feed(bytes, lines);
    if (!decodeLines(lines, out))
        return false;
    if (!framed)
        return fail(lineNumber_ + 1, lines_.error());
    return true;
}

/**
 * \brief Decodes a last line that has no "\n"
 * \return False when the decoder had failed or that line is not valid
 */
bool JsonlFormat::Decoder::finish(std::vector<Payload> &out)
{
    if (failed_)
        return false;
    std::vector<Payload> lines;
    const bool framed = lines_.finish(lines);
    if (!decodeLines(lines, out))
        return false;
    if (!framed)
        return fail(lineNumber_ + 1, lines_.error());
    lineNumber_ = 0;
    return true;
}

bool JsonlFormat::Decoder::decodeLines(const std::vector<Payload> &lines, std::vector<Payload> &out)
{
    for (const Payload &line : lines) {
        ++lineNumber_;
        if (!decodeLine(line, out))
            return false;
    }
    return true;
}

bool JsonlFormat::Decoder::decodeLine(const Payload &line, std::vector<Payload> &out)
{
    if (isBlank(line))
        return true;

    nlohmann::json object;
    try {
        object = nlohmann::json::parse(line.begin(), line.end());
    } catch (const nlohmann::json::exception &e) {
        return fail(lineNumber_, "invalid JSON: " + jsonError(e));
    }
    if (!object.is_object())
        return fail(lineNumber_, "not a JSON object");

    enum DataKey { Text, Base64, Hex, None };
    static constexpr const char *kDataKeys[] = {"text", "base64", "hex"};
    DataKey key = None;
    for (DataKey candidate : {Text, Base64, Hex}) {
        if (!object.contains(kDataKeys[candidate]))
            continue;
        if (key != None)
            return fail(lineNumber_, "more than one of \"text\", \"base64\" and \"hex\"");
        key = candidate;
    }
    if (key == None)
        return fail(lineNumber_, "no \"text\", \"base64\" or \"hex\" key");

    const nlohmann::json &value = object.at(kDataKeys[key]);
    if (!value.is_string())
        return fail(lineNumber_, fmt::format("\"{}\" is not a string", kDataKeys[key]));
    const std::string &text = value.get_ref<const std::string &>();

    Payload payload;
    std::string why;
    switch (key) {
    case Text:
        payload.assign(text.begin(), text.end());
        break;
    case Base64:
        if (!decodeBase64(text, payload, why))
            return fail(lineNumber_, "invalid base64: " + why);
        break;
    case Hex:
    case None:
        if (!decodeHex(text, payload, why))
            return fail(lineNumber_, "invalid hex: " + why);
        break;
    }

    if (payload.size() > maxMessage_)
        return fail(lineNumber_,
                    fmt::format("message of {} bytes exceeds the maximum message size of {} bytes",
                                payload.size(), maxMessage_));
    out.push_back(std::move(payload));
    return true;
}

/**
 * \class JsonlFormat::Encoder
 * \brief Writes each message as one JSON object on one line
 *
 * The keys come in a fixed order: ts (UTC, nanoseconds), ts_ns, source, peer, kind, len, then
 * "text" when the payload is UTF-8 with no control character but tab, newline and carriage
 * return, or "base64" otherwise.
 */
JsonlFormat::Encoder::Encoder(const FormatOptions &)
{
}

bool JsonlFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    std::string line;
    line.reserve(160 + message.data.size() * 4 / 3);
    fmt::format_to(std::back_inserter(line), R"({{"ts":"{}","ts_ns":{},"source":)",
                   formatTimestamp(message.timestampNs), message.timestampNs);
    appendJsonString(line, message.source);
    line += R"(,"peer":)";
    appendJsonString(line, message.peer);
    fmt::format_to(std::back_inserter(line), R"(,"kind":"{}","len":{},)",
                   messageKindName(message.kind), message.data.size());
    if (isText(message.data)) {
        line += R"("text":)";
        appendJsonString(line, message.data.data(), message.data.size());
    } else {
        line += R"("base64":")";
        appendBase64(line, message.data);
        line += '"';
    }
    line += "}\n";
    out.insert(out.end(), line.begin(), line.end());
    return true;
}

}  // namespace sockbridge
