// SPDX-License-Identifier: MIT
// Fuzz target: the jsonl decoder (untrusted JSON lines); what it yields reads back the same.
#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::span<const uint8_t> input(data, size);
    const FormatKind &kind = *findFormat("jsonl");
    const FormatOptions options = fuzz::smallOptions();
    fuzz::Decoded decoded = fuzz::decodeStreamChecked(kind, options, input, fuzz::pieceOf(input));
    if (!decoded.ok) return 0;

    fuzz::checkReencodes(kind, options, decoded.payloads, MessageKind::Bytes);
    return 0;
}
