// SPDX-License-Identifier: MIT
// LinesFormat: newline-terminated lines ("\n" or "\r\n"), the terminator not part of the message.
#pragma once

#include "formats/format.h"

namespace sockbridge {

struct LinesFormat {
    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return partial_.size(); }

    private:
        bool fail();
        bool fits(size_t partialSize, bool endsInCr) const;

        size_t maxMessage_;
        bool failed_ = false;
        Payload partial_;  // the start of a line whose "\n" has not come yet; never holds a '\n'
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
    };
};

}  // namespace sockbridge
