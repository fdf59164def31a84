// SPDX-License-Identifier: MIT
// RawFormat: bytes as they come; one fed chunk (one datagram) is one message.
#pragma once

#include "formats/format.h"

namespace sockbridge {

struct RawFormat {
    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return 0; }

    private:
        size_t maxMessage_;
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
    };
};

}  // namespace sockbridge
