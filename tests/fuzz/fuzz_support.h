// SPDX-License-Identifier: MIT
// What the fuzz targets share: an invariant check that aborts, and decoding in pieces.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "core/can_frame.h"
#include "formats/format.h"

namespace sockbridge::fuzz {

[[noreturn]] inline void invariantFailed(const char *what, const char *file, int line)
{
    std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    std::abort();
}

// An invariant of a decoder's output; unlike assert() it holds in every build type, so the
// replay tests of the normal build check it too.
#define FUZZ_CHECK(condition) \
    ((condition) ? void(0) : ::sockbridge::fuzz::invariantFailed(#condition, __FILE__, __LINE__))

struct Decoded {
    std::vector<Payload> payloads;
    bool ok = true;
};

// Feeds `input` to a fresh decoder in pieces of `piece` bytes (0: all at once), then finish().
// Stops at the first failure, as a connection does.
inline Decoded decodeInPieces(Decoder &decoder, std::span<const uint8_t> input, size_t piece)
{
    Decoded result;
    if (piece == 0) piece = std::max<size_t>(input.size(), 1);
    for (size_t at = 0; at < input.size(); at += piece) {
        if (!decoder.feed(input.subspan(at, std::min(piece, input.size() - at)), result.payloads)) {
            result.ok = false;
            return result;
        }
    }
    result.ok = decoder.finish(result.payloads);
    return result;
}

// A stream decoder must not care how the bytes were split: one piece and small pieces give the
// same messages, and the same verdict.
inline Decoded decodeStreamChecked(const FormatKind &kind, const FormatOptions &options,
                                   std::span<const uint8_t> input, size_t piece)
{
    auto whole = kind.makeDecoder(options);
    Decoded once = decodeInPieces(*whole, input, 0);
    auto split = kind.makeDecoder(options);
    Decoded pieces = decodeInPieces(*split, input, piece);
    FUZZ_CHECK(once.ok == pieces.ok);
    if (once.ok) FUZZ_CHECK(once.payloads == pieces.payloads);
    for (const auto &payload : once.payloads) FUZZ_CHECK(payload.size() <= options.maxMessage);
    return once;
}

// The bytes `kind` writes for each payload, as a stream (greeting first).
inline std::vector<uint8_t> encodeStream(const FormatKind &kind, const FormatOptions &options,
                                         const std::vector<Payload> &payloads, MessageKind messageKind)
{
    auto encoder = kind.makeEncoder(options);
    std::vector<uint8_t> bytes;
    encoder->greet(bytes);
    for (const auto &payload : payloads) {
        Message message{.kind = messageKind, .data = payload, .timestampNs = 1'700'000'000'123'456'000};
        message.source = "vcan0";
        FUZZ_CHECK(encoder->encode(message, bytes));
    }
    return bytes;
}

// What a stream decoder yielded, written back by the format's encoder, decodes to the same messages.
inline void checkReencodes(const FormatKind &kind, const FormatOptions &options, const std::vector<Payload> &payloads,
                           MessageKind messageKind)
{
    auto bytes = encodeStream(kind, options, payloads, messageKind);
    auto again = kind.makeDecoder(options);
    Decoded reread = decodeInPieces(*again, bytes, 0);
    FUZZ_CHECK(reread.ok);
    FUZZ_CHECK(reread.payloads == payloads);
}

// Options with a small message limit, so inputs of fuzzing size reach the oversize paths.
inline FormatOptions smallOptions()
{
    FormatOptions options;
    options.maxMessage = 512;
    return options;
}

// The piece size a target feeds with, taken from the input's first byte (1..16).
inline size_t pieceOf(std::span<const uint8_t> input) { return input.empty() ? 1 : input[0] % 16 + 1; }

// A stream format of CAN frames (candump, cannelloni-tcp): split-invariant, every message a valid
// frame, and a lossless round trip through the format's encoder.
inline int fuzzCanStream(std::string_view format, std::span<const uint8_t> input)
{
    const FormatKind &kind = *findFormat(format);
    const FormatOptions options = smallOptions();
    Decoded decoded = decodeStreamChecked(kind, options, input, pieceOf(input));
    if (!decoded.ok) return 0;
    for (const auto &payload : decoded.payloads) FUZZ_CHECK(CanFrame::parse(payload).has_value());
    checkReencodes(kind, options, decoded.payloads, MessageKind::CanFrame);
    return 0;
}

}  // namespace sockbridge::fuzz
