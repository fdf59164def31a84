// SPDX-License-Identifier: MIT
// hexDigitValue: one hex digit's value, for the text formats' parsers.
#pragma once

namespace sockbridge {

// 0..15 for 0-9, a-f, A-F; -1 for anything else.
inline int hexDigitValue(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace sockbridge
