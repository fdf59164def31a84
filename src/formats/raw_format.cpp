// SPDX-License-Identifier: MIT
// RawFormat: bytes as they come; one fed chunk (one datagram) is one message.
#include "formats/raw_format.h"

#include <algorithm>

namespace sockbridge {

/**
 * \class RawFormat::Decoder
 * \brief Yields every non-empty fed chunk as one payload, as it is
 *
 * Raw does not frame a stream: what one read() returned is one message. On a datagram socket
 * that is one datagram. A chunk longer than FormatOptions::maxMessage is split into payloads of
 * at most maxMessage bytes, so raw never fails and never keeps bytes.
 */
RawFormat::Decoder::Decoder(const FormatOptions &options)
    : maxMessage_(std::max<size_t>(options.maxMessage, 1))
{
}

bool RawFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    while (!bytes.empty()) {
        const size_t n = std::min(bytes.size(), maxMessage_);
        const auto chunk = bytes.first(n);
        out.emplace_back(chunk.begin(), chunk.end());
        bytes = bytes.subspan(n);
    }
    return true;
}

/**
 * \brief Nothing is ever kept, so there is nothing to yield
 * \return Always true
 */
bool RawFormat::Decoder::finish(std::vector<Payload> &)
{
    return true;
}

/**
 * \class RawFormat::Encoder
 * \brief Appends the message's bytes as they are
 */
RawFormat::Encoder::Encoder(const FormatOptions &)
{
}

bool RawFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    out.insert(out.end(), message.data.begin(), message.data.end());
    return true;
}

}  // namespace sockbridge
