// SPDX-License-Identifier: MIT
// Format: a codec between messages and bytes. No format knows about sockets.
#pragma once

#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/message.h"
#include "core/net_address.h"
#include "core/unique_fd.h"

namespace sockbridge {

using Payload = std::vector<uint8_t>;

// An interface's counters as the kernel keeps them (/sys/class/net/IF/statistics).
struct LinkCounters {
    uint64_t rxBytes = 0, rxPackets = 0, txBytes = 0, txPackets = 0;
};

// What the listener layer lends a session format that needs more than its connection
// (socketcand's BCM mode: a CAN_BCM socket on the opened bus; its statistics: the bus's
// counters). Formats know no sockets: the connection holds what openSocket returns.
struct SessionServices {
    // A non-blocking datagram socket for `target` (a bus name), or an invalid fd and `why`.
    std::function<UniqueFd(std::string_view target, std::string &why)> openSocket;
    std::function<std::optional<LinkCounters>(std::string_view interface)> linkCounters;
};

struct FormatOptions {
    size_t maxMessage = 65536;  // largest message a decoder accepts, in bytes
    // Formats that pack many messages into one datagram (BatchEncoder): the largest datagram,
    // and how long a datagram that is not full waits for more. 0 (the default): it is sent at the
    // end of the pass that filled it, so a lone frame waits for nothing and a burst still shares
    // datagrams (the pass takes everything queued): lower latency than any fixed wait, measured.
    size_t mtu = 1472;
    std::chrono::nanoseconds flushTimeout{0};
    // socketcand: the CAN buses a client may open (the interfaces of the can listeners routed
    // with this listener, filled in by the config), whether any name is accepted (a can listener
    // on 'any'), and whether CAN FD frames are carried (`socketcand_fd`).
    std::vector<std::string> canBuses;
    bool anyCanBus = false;
    bool socketcandFd = false;
    // socketcand BCM mode: the buses whose transmit jobs a session may set up (routed to with
    // 'write: true' and no id rules, which the kernel's jobs would bypass); the services it uses.
    std::vector<std::string> canWritableBuses;
    std::shared_ptr<const SessionServices> sessionServices;
    // socketcand's discovery beacon (`socketcand_beacon`): a listening server announces itself with
    // a datagram to `to` every `interval`, under `name` (empty: the host name).
    struct Beacon {
        SocketAddress to;
        std::chrono::milliseconds interval{2000};
        std::string name;
        std::string description = "sockbridge";
    };
    std::optional<Beacon> beacon;
};

// What a session's connection does for its decoder besides sending replies: one side socket
// (datagrams both ways) and a periodic tick. Implemented by StreamConnection.
class SessionHost {
public:
    virtual ~SessionHost() = default;
    // Opens the side socket for `target` through FormatOptions::sessionServices, closing one
    // already open; false with `why`.
    virtual bool openSideSocket(std::string_view target, std::string &why) = 0;
    virtual void closeSideSocket() = 0;
    // Writes one datagram to the side socket: 0, or -errno.
    virtual int sendSide(std::span<const uint8_t> datagram) = 0;
    // Calls Decoder::tick() every `interval` from now on; 0 stops.
    virtual void setTick(std::chrono::milliseconds interval) = 0;
    virtual std::optional<LinkCounters> linkCounters(std::string_view interface) = 0;
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
    // Session formats (FormatKind::makeSession): answers to what was fed ("< ok >", "< error
    // ... >"), moved to `out` in order. The connection sends each with its own send(), never
    // joined with other output, before anything encoded later. Other formats have none.
    virtual void takeReplies(std::vector<Payload> &) {}
    // Session formats: the connection lends itself for side sockets and ticks (once, at start).
    virtual void attach(SessionHost &) {}
    // A datagram read from the side socket, stamped with the kernel's time; answers go to replies.
    virtual void sideReceived(std::span<const uint8_t>, int64_t /*timestampNs*/) {}
    // The periodic tick asked for with SessionHost::setTick; answers go to replies.
    virtual void tick() {}
    // Where what the peer sends should go (socketcand: the bus it opened): the decoded messages
    // carry it as Message::target. Empty: wherever the routes take them.
    virtual std::string_view target() const { return {}; }
    const std::string &error() const { return error_; }
    // Messages or packets the peer sent that never arrived, as the format's sequence numbers show,
    // since the last call; the caller adds them to its counters. 0 for formats without them.
    uint64_t takeLost() { return std::exchange(lost_, 0); }

protected:
    std::string error_;
    uint64_t lost_ = 0;
};

// Packs many messages into one datagram (cannelloni). A datagram is begin(), then add() for
// each message while the datagram stays within FormatOptions::mtu, then end().
class BatchEncoder {
public:
    virtual ~BatchEncoder() = default;
    // Appends the start of a datagram (its header) to the empty `out`.
    virtual void begin(std::vector<uint8_t> &out) = 0;
    // Appends one message; false (nothing appended) when the message cannot be encoded.
    virtual bool add(const Message &message, std::vector<uint8_t> &out) = 0;
    // Completes the datagram in `out`, which holds `count` messages (fills in its header).
    virtual void end(std::vector<uint8_t> &out, size_t count) = 0;
};

// Encoder: appends one message's bytes to the caller's buffer. On a datagram socket the caller
// sends each message's bytes as one datagram, unless batching() says how to pack many into one.
class Encoder {
public:
    virtual ~Encoder() = default;
    // False, with nothing appended, when this format cannot carry the message (a cannelloni
    // encoder given bytes that are not a CAN frame): the caller counts it as an error.
    virtual bool encode(const Message &message, std::vector<uint8_t> &out) = 0;
    // Bytes to send first on every new stream connection, before any message (a handshake).
    virtual void greet(std::vector<uint8_t> &) {}
    // Non-null when datagrams should carry many messages.
    virtual BatchEncoder *batching() { return nullptr; }
};

// A protocol session (socketcand): one per connection, its decoder and encoder share the
// session's state (which bus is open, which mode), so what the peer sent decides what is written
// to it. The decoder answers commands through takeReplies() instead of failing: a malformed
// command gets an error reply and the session goes on.
struct SessionCodec {
    std::unique_ptr<Decoder> decoder;
    std::unique_ptr<Encoder> encoder;
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
    // What every decoded message is, whatever the socket (CAN frame formats: CanFrame with
    // linkType 227); nullopt: what the listener's socket says (Bytes or Datagram).
    std::optional<MessageKind> messageKind = std::nullopt;
    uint16_t linkType = 0;
    // Non-null for session formats: stream connections make their decoder and encoder with it
    // (one shared session); the format needs a stream or seqpacket socket.
    SessionCodec (*makeSession)(const FormatOptions &) = nullptr;
    // Non-null for formats whose servers announce themselves (socketcand's beacon, sent when
    // FormatOptions::beacon is set): the datagram for a server that clients reach at `server`.
    std::string (*announcement)(const FormatOptions &, const SocketAddress &server) = nullptr;
};

// Every format, one row each (formats/registry.cpp).
std::span<const FormatKind> formatKinds();
const FormatKind *findFormat(std::string_view name);

}  // namespace sockbridge
