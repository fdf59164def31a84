// SPDX-License-Identifier: MIT
// LengthPrefixedFormat: a u32 big-endian length, then that many bytes.
#include "formats/length_prefixed_format.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace sockbridge {

/**
 * \class LengthPrefixedFormat::Decoder
 * \brief Splits a byte stream into frames of a 4-byte big-endian length and that many bytes
 *
 * A zero length is a valid, empty message. A length above FormatOptions::maxMessage fails the
 * decoder as soon as its 4 bytes are in, before any of the frame is buffered.
 */
LengthPrefixedFormat::Decoder::Decoder(const FormatOptions &options)
    : maxMessage_(options.maxMessage)
{
}

void LengthPrefixedFormat::Decoder::reset()
{
    headerSize_ = 0;
    length_ = 0;
    body_.clear();
}

bool LengthPrefixedFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    if (failed_)
        return false;

    while (true) {
        if (headerSize_ < kHeaderSize) {
            if (bytes.empty())
                break;
            const size_t n = std::min(kHeaderSize - headerSize_, bytes.size());
            std::copy_n(bytes.begin(), n, header_.begin() + headerSize_);
            headerSize_ += n;
            bytes = bytes.subspan(n);
            if (headerSize_ < kHeaderSize)
                break;

            const uint32_t length = uint32_t(header_[0]) << 24 | uint32_t(header_[1]) << 16 |
                                    uint32_t(header_[2]) << 8 | uint32_t(header_[3]);
            if (length > maxMessage_) {
                failed_ = true;
                error_ = fmt::format(
                    "length prefix {} exceeds the maximum message size of {} bytes", length,
                    maxMessage_);
                reset();
                return false;
            }
            length_ = length;
            body_.reserve(length_);
        }

        const size_t n = std::min(length_ - body_.size(), bytes.size());
        const auto chunk = bytes.first(n);
        body_.insert(body_.end(), chunk.begin(), chunk.end());
        bytes = bytes.subspan(n);
        if (body_.size() < length_)
            break;

        out.push_back(std::move(body_));
        reset();
    }
    return true;
}

/**
 * \brief Checks that the stream ended between two frames
 * \return False when part of a length prefix or of a frame is left over
 */
bool LengthPrefixedFormat::Decoder::finish(std::vector<Payload> &)
{
    if (failed_)
        return false;
    if (headerSize_ == 0)
        return true;

    if (headerSize_ < kHeaderSize)
        error_ = fmt::format("stream ended inside a length prefix ({} of {} bytes)", headerSize_,
                             kHeaderSize);
    else
        error_ = fmt::format("stream ended inside a frame ({} of {} bytes)", body_.size(), length_);
    reset();
    return false;
}

/**
 * \class LengthPrefixedFormat::Encoder
 * \brief Appends the message's length as 4 big-endian bytes, then its bytes
 *
 * Messages are bounded by FormatOptions::maxMessage, far below the 4 GiB a u32 can count.
 */
LengthPrefixedFormat::Encoder::Encoder(const FormatOptions &)
{
}

bool LengthPrefixedFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    const uint32_t length = uint32_t(std::min<size_t>(message.data.size(),
                                                      std::numeric_limits<uint32_t>::max()));
    out.push_back(uint8_t(length >> 24));
    out.push_back(uint8_t(length >> 16));
    out.push_back(uint8_t(length >> 8));
    out.push_back(uint8_t(length));
    out.insert(out.end(), message.data.begin(), message.data.begin() + length);
    return true;
}

}  // namespace sockbridge
