// SPDX-License-Identifier: MIT
// PacketSummaryFormat: `packet-jsonl`, one JSON line per packet decoding its L2/L3/L4 headers.
#pragma once

#include <string>

#include "formats/format.h"

namespace sockbridge {

struct PacketSummaryFormat {
    // Output only: a summary cannot be turned back into the packet.
    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return 0; }
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
    };

    // The JSON object of one message, without the newline (exposed for tests).
    static std::string summarize(const Message &message);
};

}  // namespace sockbridge
