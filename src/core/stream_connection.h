// SPDX-License-Identifier: MIT
// StreamConnection: one connected stream or seqpacket socket with its decoder and write buffer.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/message.h"
#include "core/tls_session.h"
#include "core/unique_fd.h"
#include "formats/format.h"

namespace sockbridge {

class StreamConnection final : public SessionHost {
public:
    struct Handlers {
        // Whole messages decoded from what the peer sent.
        std::function<void(StreamConnection &, std::vector<Payload> &)> onMessages;
        // The peer shut down its sending side (EOF). The connection stays open for writing.
        std::function<void(StreamConnection &)> onEndOfInput;
        // Closed (error, reset, or both directions done); `reason` is empty for an orderly close.
        std::function<void(StreamConnection &, const std::string &reason)> onClosed;
        // An outgoing connection completed.
        std::function<void(StreamConnection &)> onConnected;
        // The write buffer drained below the low-water mark after being full.
        std::function<void(StreamConnection &)> onWritable;
        // Asked before each read: false pauses reading until resumeReading().
        std::function<bool()> mayRead;
        // Bytes moved to the splice target without passing through user space (for counters).
        std::function<void(StreamConnection &, size_t bytes)> onSpliced;
    };

    static constexpr size_t kHighWater = 256 * 1024;

    // `connecting`: the fd has a non-blocking connect() in progress.
    StreamConnection(EventLoop &loop, UniqueFd fd, std::string peer, uint64_t id, const FormatKind &format,
                     const FormatOptions &options, bool messageMode, bool connecting, Handlers handlers);
    ~StreamConnection() override;
    StreamConnection(const StreamConnection &) = delete;
    StreamConnection &operator=(const StreamConnection &) = delete;

    uint64_t id() const { return id_; }
    const std::string &peer() const { return peer_; }
    int fd() const { return fd_.get(); }
    bool connected() const { return !connecting_ && !closed_; }
    bool closed() const { return closed_; }
    // An outgoing connection that completed its connect() at some point.
    bool everConnected() const { return everConnected_; }

    // Encodes and buffers one message (call flush() after a batch). Returns the encoded size, or
    // nullopt when the format cannot carry the message (nothing is buffered; the caller counts it).
    std::optional<size_t> send(const Message &message);
    // Writes what the socket takes now; the rest goes when it is writable.
    void flush() { writeSome(); }
    // Too much is buffered: the caller stops sending until onWritable.
    bool full() const { return buffered() >= kHighWater; }
    size_t buffered() const;
    // Send FIN once everything buffered is written (a half-close passed on).
    void shutdownWriteWhenDrained();
    // Close once everything buffered is written.
    void closeWhenDrained();
    // Close now; onClosed runs with `reason`.
    void close(const std::string &reason);
    void pauseReading();
    void resumeReading();
    // For good (shutdown): first reads what the kernel already holds for us, so data a peer sent
    // before the stop is not lost.
    void stopReading();

    // Speaks TLS on this socket from now on (before any byte moved): the handshake runs first
    // (after connect() completes, for an outgoing connection), bounded by `tls.handshakeTimeout`;
    // onConnected, for an outgoing one, comes once it is done. No splice, no plaintext shortcut.
    void useTls(const TlsEndpoint &tls);
    // The TLS handshake failed or timed out: the peer was refused rather than lost.
    bool tlsRefused() const { return tlsRefused_; }
    // "TLSv1.3, peer CN=client1" once the handshake is done; "" without TLS.
    const std::string &tlsDescription() const { return tlsDescription_; }

    // per_connection pairs of raw streams: bytes read here go to `target` through a pipe with
    // splice(2), never copied to user space. False (and nothing changes) when either side is not
    // a raw byte stream or no pipe could be made.
    bool spliceTo(StreamConnection &target);

    // Where the peer asked its messages to go (its session's choice, Decoder::target).
    std::string_view target() const { return decoder_->target(); }

    // SessionHost: a session format's side socket and tick.
    bool openSideSocket(std::string_view target, std::string &why) override;
    void closeSideSocket() override;
    int sendSide(std::span<const uint8_t> datagram) override;
    void setTick(std::chrono::milliseconds interval) override;
    std::optional<LinkCounters> linkCounters(std::string_view interface) override;

private:
    void handleEvents(uint32_t events);
    void finishConnect();
    void readSome();
    void writeSome();
    void updateEvents();
    void endOfInput();
    void spliceIn();
    void pushSplicedBytes();
    void moveSplicedBytesToTarget();
    void unlinkSplice();
    void queueGreeting();
    void queueSeparateWrite(std::vector<uint8_t> bytes, bool atFront);
    void sendReplies();
    void startHandshake();
    void continueHandshake();
    void connectionReady();
    // recv()/send() or their TLS counterparts: -1 with errno set (EAGAIN when waiting) or a count.
    ssize_t receive(uint8_t *data, size_t size);
    ssize_t transmit(const uint8_t *data, size_t size);
    // The reason for the last failed receive()/transmit(): TLS's own words, else strerror.
    std::string ioError(int error) const;
    void readSide();
    void tickNow();

    EventLoop &loop_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    std::string peer_;
    uint64_t id_;
    std::unique_ptr<Decoder> decoder_;
    std::unique_ptr<Encoder> encoder_;
    bool messageMode_;
    bool passthrough_;
    size_t maxMessage_;
    bool connecting_;
    Handlers handlers_;

    std::vector<uint8_t> out_;         // stream mode: bytes not yet written, from outOffset_
    size_t outOffset_ = 0;
    // Session formats: offsets in out_ where one send() must end, so a greeting or a reply is
    // never joined with other output (clients read "< hi >" and "< ok >" with one read each).
    std::deque<size_t> cuts_;
    bool separateReplies_ = false;
    std::deque<std::vector<uint8_t>> outMessages_;  // message mode: one send() each
    size_t outMessageBytes_ = 0;
    bool wasFull_ = false;
    bool readPaused_ = false;
    bool readStopped_ = false;
    bool inputEnded_ = false;
    bool shutdownPending_ = false;
    bool writeShut_ = false;
    bool closePending_ = false;
    bool closed_ = false;
    bool everConnected_ = false;
    bool finalRead_ = false;
    size_t finalReadLeft_ = 0;  // bytes the final read still takes (stream sockets)

    // TLS: the handshake's state, and which readiness each direction waits for (a read may need
    // the socket writable and a write readable, when the protocol says so).
    std::unique_ptr<TlsSession> tls_;
    std::unique_ptr<Timer> handshakeTimer_;
    std::chrono::nanoseconds handshakeTimeout_{};
    uint32_t handshakeWants_ = 0;  // the readiness the handshake waits for
    bool handshaking_ = false;
    bool outgoing_ = false;  // we connected out: TLS client side, onConnected after the handshake
    bool readWantsWritable_ = false;
    bool writeWantsReadable_ = false;
    bool tlsRefused_ = false;
    std::string tlsDescription_;

    // splice: this connection's bytes wait in the pipe until spliceTarget_ can take them.
    StreamConnection *spliceTarget_ = nullptr;
    StreamConnection *spliceSource_ = nullptr;
    UniqueFd pipeRead_;
    UniqueFd pipeWrite_;
    size_t pipeBytes_ = 0;

    // Session formats: the side socket (fd before its watch) and the tick.
    std::shared_ptr<const SessionServices> services_;
    UniqueFd sideFd_;
    std::unique_ptr<IoWatch> sideWatch_;
    std::unique_ptr<Timer> tickTimer_;
    std::chrono::milliseconds tickInterval_{0};
};

}  // namespace sockbridge
