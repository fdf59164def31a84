// SPDX-License-Identifier: MIT
// Fuzz target: one cannelloni UDP datagram (the format of a real CVE); valid frames, lossless round trip.
#include "core/can_frame.h"
#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::span<const uint8_t> datagram(data, size);
    const FormatKind &kind = *findFormat("cannelloni");
    FormatOptions options = fuzz::smallOptions();
    auto decoder = kind.makeDecoder(options);
    fuzz::Decoded decoded = fuzz::decodeInPieces(*decoder, datagram, 0);
    FUZZ_CHECK(decoder->takeLost() <= 127);
    if (!decoded.ok) return 0;
    FUZZ_CHECK(decoded.payloads.size() <= 0xffff);

    // Written back as one packet (the mtu holds them all), the frames read back the same.
    for (const auto &payload : decoded.payloads) FUZZ_CHECK(CanFrame::parse(payload).has_value());
    options.mtu = 1 << 20;
    auto encoder = kind.makeEncoder(options);
    BatchEncoder *batch = encoder->batching();
    FUZZ_CHECK(batch != nullptr);
    std::vector<uint8_t> packet;
    batch->begin(packet);
    for (const auto &payload : decoded.payloads)
        FUZZ_CHECK(batch->add(Message{.kind = MessageKind::CanFrame, .data = payload}, packet));
    batch->end(packet, decoded.payloads.size());
    auto again = kind.makeDecoder(options);
    fuzz::Decoded reread = fuzz::decodeInPieces(*again, packet, 0);
    FUZZ_CHECK(reread.ok);
    FUZZ_CHECK(reread.payloads == decoded.payloads);
    return 0;
}
