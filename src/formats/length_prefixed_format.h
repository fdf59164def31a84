// SPDX-License-Identifier: MIT
// LengthPrefixedFormat: a u32 big-endian length, then that many bytes.
#pragma once

#include <array>

#include "formats/format.h"

namespace sockbridge {

struct LengthPrefixedFormat {
    static constexpr size_t kHeaderSize = 4;

    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return headerSize_ + body_.size(); }

    private:
        void reset();

        size_t maxMessage_;
        bool failed_ = false;
        std::array<uint8_t, kHeaderSize> header_{};
        size_t headerSize_ = 0;  // bytes of header_ received so far
        size_t length_ = 0;      // the current frame's length, once headerSize_ == kHeaderSize
        Payload body_;           // the current frame's bytes received so far
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
    };
};

}  // namespace sockbridge
