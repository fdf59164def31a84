// SPDX-License-Identifier: MIT
// PcapWriter: classic pcap records with nanosecond timestamps for packet (and CAN) messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/message.h"

namespace sockbridge {

class PcapWriter {
public:
    static constexpr uint32_t kMagicNanoseconds = 0xa1b23c4d;
    // Records are cut to this many bytes (orig_len keeps the real length); tcpdump's default.
    static constexpr uint32_t kDefaultSnaplen = 262144;

    explicit PcapWriter(uint32_t snaplen = kDefaultSnaplen) : snaplen_(snaplen) {}

    // The link type of the file: set by the first message appended, 0 before.
    uint16_t linkType() const { return linkType_; }
    // The 24-byte file header for linkType(): little-endian, version 2.4.
    std::vector<uint8_t> fileHeader() const;
    // Appends one record (16-byte header, then the bytes). False, with `why` set, when the
    // message has no link type or not the file's: it is not written.
    [[nodiscard]] bool append(const Message &message, std::vector<uint8_t> &out, std::string &why);

private:
    uint32_t snaplen_;
    uint16_t linkType_ = 0;
};

}  // namespace sockbridge
