// SPDX-License-Identifier: MIT
// Fuzz target: the length-prefixed decoder; frames within the limit, and a lossless round trip.
#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::span<const uint8_t> input(data, size);
    const FormatKind &kind = *findFormat("length-prefixed");
    const FormatOptions options = fuzz::smallOptions();
    fuzz::Decoded decoded = fuzz::decodeStreamChecked(kind, options, input, fuzz::pieceOf(input));
    if (!decoded.ok) return 0;

    // Every byte of a stream that decoded cleanly belongs to a frame: writing the frames back
    // gives the input itself.
    auto bytes = fuzz::encodeStream(kind, options, decoded.payloads, MessageKind::Bytes);
    FUZZ_CHECK(bytes == std::vector<uint8_t>(input.begin(), input.end()));
    return 0;
}
