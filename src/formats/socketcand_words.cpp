// SPDX-License-Identifier: MIT
// The words of socketcand commands, read as socketcand's sscanf() calls read them.
#include "formats/socketcand_words.h"
#include "formats/hex_digit.h"

#include <fmt/format.h>

#include <algorithm>

namespace sockbridge::socketcand {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::vector<std::string_view> wordsOf(std::string_view text)
{
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && isSpace(text[i])) ++i;
        size_t start = i;
        while (i < text.size() && !isSpace(text[i])) ++i;
        if (i > start) words.push_back(text.substr(start, i - start));
    }
    return words;
}

std::optional<uint32_t> parseHex(std::string_view digits, size_t maxDigits)
{
    return parseHexDigits(digits, maxDigits);
}

std::optional<uint64_t> parseDecimal(std::string_view digits, size_t maxDigits)
{
    if (digits.empty() || digits.size() > maxDigits) return std::nullopt;
    uint64_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + uint64_t(c - '0');
    }
    return value;
}

std::string shown(std::string_view word)
{
    std::string out(word.substr(0, 32));
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '<' || c == '>' || c < 0x20 || c > 0x7e; }, '?');
    return out;
}

// An id above 7FF with fewer than 8 digits is taken as extended too: python-can (4.1) writes ids
// without leading zeros.
std::optional<uint32_t> parseId(std::string_view word, std::string &why)
{
    auto id = parseHex(word, 8);
    if (!id) {
        why = fmt::format("bad can_id {}", shown(word));
        return std::nullopt;
    }
    if (word.size() == 8 || *id > CanFrame::kSffMask) {
        if (*id > CanFrame::kEffMask) {
            why = fmt::format("can_id {} is above 1FFFFFFF", shown(word));
            return std::nullopt;
        }
        return *id | CanFrame::kEffFlag;
    }
    return *id;
}

void appendId(const CanFrame &frame, std::string &out)
{
    if (frame.isExtended())
        out += fmt::format("{:08X}", frame.id & CanFrame::kEffMask);
    else
        out += fmt::format("{:03X}", frame.id & CanFrame::kSffMask);
}

std::string timeText(int64_t timestampNs)
{
    int64_t ns = std::max<int64_t>(timestampNs, 0);
    return fmt::format("{}.{:06}", ns / 1'000'000'000, ns % 1'000'000'000 / 1000);
}

bool parseDataBytes(const std::vector<std::string_view> &words, size_t first, size_t count, CanFrame &frame,
                    std::string &why)
{
    if (words.size() != first + count) {
        why = fmt::format("length {} but {} data bytes", count, words.size() < first ? 0 : words.size() - first);
        return false;
    }
    for (size_t i = 0; i < count; ++i) {
        auto byte = parseHex(words[first + i], 2);
        if (!byte) {
            why = fmt::format("bad data byte {}", shown(words[first + i]));
            return false;
        }
        frame.data[i] = uint8_t(*byte);
    }
    return true;
}

bool parseFrameWords(const std::vector<std::string_view> &words, size_t first, bool fd, CanFrame &frame,
                     std::string &why)
{
    const size_t lengthAt = first + (fd ? 2 : 1);
    if (words.size() <= lengthAt) {
        why = "needs a can_id and a length";
        return false;
    }
    auto id = parseId(words[first], why);
    if (!id) return false;
    frame.id = *id;
    if (fd) {
        auto flags = parseHex(words[first + 1], 2);
        if (!flags || (*flags & ~uint32_t(CanFrame::kBrs | CanFrame::kEsi | CanFrame::kFdf))) {
            why = fmt::format("bad CAN FD flags {} (BRS 1, ESI 2)", shown(words[first + 1]));
            return false;
        }
        frame.flags = uint8_t(*flags) | CanFrame::kFdf;
    }
    auto len = parseDecimal(words[lengthAt]);
    if (!len || *len > (fd ? 64u : 8u) || (fd && !isValidFdLength(*len))) {
        why = fmt::format("bad length {}", shown(words[lengthAt]));
        return false;
    }
    frame.len = uint8_t(*len);
    return parseDataBytes(words, lengthAt + 1, *len, frame, why);
}

}  // namespace sockbridge::socketcand
