// SPDX-License-Identifier: MIT
// Small builders the format tests share: payloads from strings and back.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "formats/format.h"

namespace sockbridge::test {

inline Payload bytesOf(std::string_view s) { return Payload(s.begin(), s.end()); }

inline std::vector<Payload> payloadsOf(std::initializer_list<std::string_view> list)
{
    std::vector<Payload> payloads;
    for (std::string_view s : list) payloads.push_back(bytesOf(s));
    return payloads;
}

inline std::string stringOf(const std::vector<uint8_t> &bytes) { return std::string(bytes.begin(), bytes.end()); }

}  // namespace sockbridge::test
