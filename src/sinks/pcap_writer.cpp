// SPDX-License-Identifier: MIT
// PcapWriter: the file format of https://www.tcpdump.org/manpages/pcap-savefile.5.html, written
// little-endian whatever the host (readers take either order from the magic).
#include "sinks/pcap_writer.h"

#include <fmt/core.h>

#include <algorithm>
#include <bit>

namespace sockbridge {

namespace {

void put16(std::vector<uint8_t> &out, uint16_t value)
{
    out.push_back(uint8_t(value));
    out.push_back(uint8_t(value >> 8));
}

void put32(std::vector<uint8_t> &out, uint32_t value)
{
    for (int shift = 0; shift < 32; shift += 8) out.push_back(uint8_t(value >> shift));
}

}  // namespace

std::vector<uint8_t> PcapWriter::fileHeader() const
{
    std::vector<uint8_t> header;
    header.reserve(24);
    put32(header, kMagicNanoseconds);
    put16(header, 2);  // version 2.4
    put16(header, 4);
    put32(header, 0);  // thiszone: timestamps are UTC
    put32(header, 0);  // sigfigs
    put32(header, snaplen_);
    put32(header, linkType_);
    return header;
}

bool PcapWriter::append(const Message &message, std::vector<uint8_t> &out, std::string &why)
{
    if (message.linkType == 0) {
        why = fmt::format("a {} message has no link type (not a captured packet)", messageKindName(message.kind));
        return false;
    }
    if (linkType_ == 0) linkType_ = message.linkType;
    if (message.linkType != linkType_) {
        why = fmt::format("link type {} differs from the file's link type {}", message.linkType, linkType_);
        return false;
    }
    const uint32_t captured = uint32_t(std::min<size_t>(message.size(), snaplen_));
    const uint32_t original = std::max<uint32_t>(message.wireLength, uint32_t(message.size()));
    // Floor division keeps the nanoseconds in [0, 1e9) for times before the epoch too.
    int64_t seconds = message.timestampNs / 1'000'000'000;
    int64_t nanoseconds = message.timestampNs % 1'000'000'000;
    if (nanoseconds < 0) {
        nanoseconds += 1'000'000'000;
        --seconds;
    }
    // The record header and the bytes in one insert each: this runs for every captured packet.
    uint32_t fields[4] = {uint32_t(seconds), uint32_t(nanoseconds), captured, original};
    if constexpr (std::endian::native == std::endian::big)
        for (uint32_t &field : fields) field = __builtin_bswap32(field);
    const auto *header = reinterpret_cast<const uint8_t *>(fields);
    out.insert(out.end(), header, header + sizeof(fields));
    out.insert(out.end(), message.data.begin(), message.data.begin() + captured);
    return true;
}

}  // namespace sockbridge
