// SPDX-License-Identifier: MIT
// The words of socketcand commands: hex ids, decimal lengths, data bytes, error-safe echoes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/can_frame.h"

namespace sockbridge::socketcand {

bool isSpace(char c);
std::vector<std::string_view> wordsOf(std::string_view text);
// At most `maxDigits` hex digits, no prefix.
std::optional<uint32_t> parseHex(std::string_view digits, size_t maxDigits);
// At most `maxDigits` decimal digits.
std::optional<uint64_t> parseDecimal(std::string_view digits, size_t maxDigits = 3);
// A word as it may go back inside "< error ... >": no '<' or '>', at most 32 characters.
std::string shown(std::string_view word);
// socketcand's ids: 8 hex digits are an extended id, fewer a standard one; with kEffFlag set
// for extended. nullopt with `why` for a bad id.
std::optional<uint32_t> parseId(std::string_view word, std::string &why);
// "123" or "1ABCDEF0", as socketcand prints ids.
void appendId(const CanFrame &frame, std::string &out);
// "1700000000.123456" from nanoseconds since the epoch.
std::string timeText(int64_t timestampNs);

// The data bytes of a command: `words` are each 1 or 2 hex digits; false with `why`.
bool parseDataBytes(const std::vector<std::string_view> &words, size_t first, size_t count, CanFrame &frame,
                    std::string &why);
// "ID LEN B0 B1 ..." (classic) or "ID FLAGS LEN B0 ..." (`fd`: FLAGS hex, BRS 1, ESI 2, FDF 4
// accepted) from words[first] to the last word, into `frame`; false with `why`.
bool parseFrameWords(const std::vector<std::string_view> &words, size_t first, bool fd, CanFrame &frame,
                     std::string &why);

}  // namespace sockbridge::socketcand
