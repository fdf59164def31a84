// SPDX-License-Identifier: MIT
// CandumpFormat: can-utils' text form of CAN frames, one a line: "(SEC.USEC) IFACE ID#DATA".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/can_frame.h"
#include "formats/format.h"

namespace sockbridge {

struct CandumpFormat {
    // Parses one frame in cansend's form ("123#DEADBEEF", "12345678##1AABB", "123#R4"); nullopt
    // with `why` set when it is not a valid frame.
    static std::optional<CanFrame> parseFrame(std::string_view text, std::string &why);
    // Appends the frame as candump prints it: uppercase hex, 3-digit standard and 8-digit
    // extended ids, "##F" for CAN FD with F the flags nibble (FDF 4 always set, as the kernel reports it), "R" for remote frames.
    static void appendFrame(const CanFrame &frame, std::string &out);
    // "(0000000001.000000) vcan0 123#DEADBEEF": the candump -L log line, without the newline.
    static std::string logLine(const CanFrame &frame, int64_t timestampNs, std::string_view interface);

    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return partial_.size(); }

    private:
        bool line(std::string_view text, std::vector<Payload> &out);

        size_t maxMessage_;
        bool failed_ = false;
        std::string partial_;
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
    };
};

}  // namespace sockbridge
