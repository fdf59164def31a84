// SPDX-License-Identifier: MIT
// Hex digits for the text formats' parsers: one digit's value, a run of digits as a number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sockbridge {

// 0..15 for 0-9, a-f, A-F; -1 for anything else.
inline int hexDigitValue(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// 1 to `maxDigits` (at most 8) hex digits, no prefix; nullopt for anything else.
inline std::optional<uint32_t> parseHexDigits(std::string_view digits, size_t maxDigits = 8)
{
    if (digits.empty() || digits.size() > maxDigits) return std::nullopt;
    uint32_t value = 0;
    for (char c : digits) {
        int v = hexDigitValue(c);
        if (v < 0) return std::nullopt;
        value = value << 4 | uint32_t(v);
    }
    return value;
}

}  // namespace sockbridge
