// SPDX-License-Identifier: MIT
// JsonlFormat: one JSON object a line, with metadata and the payload as text, base64 or hex.
#pragma once

#include "formats/format.h"
#include "formats/lines_format.h"

namespace sockbridge {

struct JsonlFormat {
    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return lines_.pending(); }

    private:
        bool decodeLines(const std::vector<Payload> &lines, std::vector<Payload> &out);
        bool decodeLine(const Payload &line, std::vector<Payload> &out);
        bool fail(size_t lineNumber, const std::string &why);

        size_t maxMessage_;
        LinesFormat::Decoder lines_;
        size_t lineNumber_ = 0;  // lines framed so far, blank ones included
        bool failed_ = false;
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
    };
};

}  // namespace sockbridge
