// SPDX-License-Identifier: MIT
// Fuzz target: the candump line decoder; every message is a valid CAN frame that reads back the same.
#include "core/can_frame.h"
#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::span<const uint8_t> input(data, size);
    const FormatKind &kind = *findFormat("candump");
    const FormatOptions options = fuzz::smallOptions();
    fuzz::Decoded decoded = fuzz::decodeStreamChecked(kind, options, input, fuzz::pieceOf(input));
    if (!decoded.ok) return 0;

    for (const auto &payload : decoded.payloads) FUZZ_CHECK(CanFrame::parse(payload).has_value());
    auto bytes = fuzz::encodeStream(kind, options, decoded.payloads, MessageKind::CanFrame);
    auto again = kind.makeDecoder(options);
    fuzz::Decoded reread = fuzz::decodeInPieces(*again, bytes, 0);
    FUZZ_CHECK(reread.ok);
    FUZZ_CHECK(reread.payloads == decoded.payloads);
    return 0;
}
