// SPDX-License-Identifier: MIT
// Fuzz target: the lines decoder; messages hold no newline, and re-encoded they decode the same.
#include <algorithm>

#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::span<const uint8_t> input(data, size);
    const FormatKind &kind = *findFormat("lines");
    const FormatOptions options = fuzz::smallOptions();
    fuzz::Decoded decoded = fuzz::decodeStreamChecked(kind, options, input, fuzz::pieceOf(input));
    if (!decoded.ok) return 0;

    // A line ending in "\r" loses it when written back ("\r\n" is a terminator): leave those out.
    std::vector<Payload> comparable;
    for (const auto &line : decoded.payloads) {
        FUZZ_CHECK(std::find(line.begin(), line.end(), '\n') == line.end());
        if (line.empty() || line.back() != '\r') comparable.push_back(line);
    }
    fuzz::checkReencodes(kind, options, comparable, MessageKind::Bytes);
    return 0;
}
