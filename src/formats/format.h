// SPDX-License-Identifier: MIT
// Format: a codec between messages and bytes. No format knows about sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.h"

namespace sockbridge {

using Payload = std::vector<uint8_t>;

struct FormatOptions {
    size_t maxMessage = 65536;  // largest message a decoder accepts, in bytes
};

// Incremental decoder: feed it bytes as they arrive, it yields whole message payloads and keeps
// the remainder. On a datagram socket the caller feeds one datagram and then calls finish().
class Decoder {
public:
    virtual ~Decoder() = default;
    // Appends every complete payload in `bytes` (plus what was kept) to `out`. Returns false when
    // the input can never be framed (oversize, malformed); error() then says why and the decoder
    // must not be fed again.
    [[nodiscard]] virtual bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) = 0;
    // End of input: yields a last unterminated payload where the format allows one. Returns false
    // when a partial frame is left over (error() says how much). The decoder is empty afterwards.
    [[nodiscard]] virtual bool finish(std::vector<Payload> &out) = 0;
    // Bytes kept that do not yet make a whole message.
    virtual size_t pending() const = 0;
    const std::string &error() const { return error_; }

protected:
    std::string error_;
};

// Encoder: appends one message's bytes to the caller's buffer. On a datagram socket the caller
// sends each message's bytes as one datagram.
class Encoder {
public:
    virtual ~Encoder() = default;
    virtual void encode(const Message &message, std::vector<uint8_t> &out) = 0;
};

struct FormatKind {
    std::string_view name;
    std::string_view summary;
    bool framesStream;  // splits a byte stream into messages (raw does not)
    std::unique_ptr<Decoder> (*makeDecoder)(const FormatOptions &);
    std::unique_ptr<Encoder> (*makeEncoder)(const FormatOptions &);
    // Bytes pass unchanged both ways (raw): the stream path may skip the codec's copies.
    bool passthrough = false;
    // Writes messages but cannot read them back (a summary): its decoder fails every input, so
    // the config refuses it on a listener that routes read from.
    bool encodeOnly = false;
};

// Every format, one row each (formats/registry.cpp).
std::span<const FormatKind> formatKinds();
const FormatKind *findFormat(std::string_view name);

}  // namespace sockbridge
