// SPDX-License-Identifier: MIT
// StreamConnection: non-blocking reads through a decoder, buffered writes, half-close.
#include "core/stream_connection.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace sockbridge {

namespace {
constexpr size_t kReadSize = 64 * 1024;
constexpr int kReadsPerWakeup = 16;  // fairness: other sockets get a turn
constexpr int kFinalReads = 1024;    // 64 MiB: more than any socket receive buffer holds
}  // namespace

StreamConnection::StreamConnection(EventLoop &loop, UniqueFd fd, std::string peer, uint64_t id,
                                   const FormatKind &format, const FormatOptions &options, bool messageMode,
                                   bool connecting, Handlers handlers)
    : loop_(loop), fd_(std::move(fd)), peer_(std::move(peer)), id_(id), decoder_(format.makeDecoder(options)),
      encoder_(format.makeEncoder(options)), messageMode_(messageMode), connecting_(connecting),
      handlers_(std::move(handlers))
{
    if (!connecting_) queueGreeting();
    uint32_t events = connecting_ ? kWritable : kReadable;
    if (!connecting_ && buffered() > 0) events |= kWritable;
    watch_ = loop_.watchIo(fd_.get(), events, [this](uint32_t ready) { handleEvents(ready); });
}

// The format's handshake (cannelloni-tcp) goes before anything else sent on the connection.
void StreamConnection::queueGreeting()
{
    std::vector<uint8_t> greeting;
    encoder_->greet(greeting);
    if (greeting.empty()) return;
    if (messageMode_) {
        outMessageBytes_ += greeting.size();
        outMessages_.push_front(std::move(greeting));
    } else {
        out_.insert(out_.begin() + ptrdiff_t(outOffset_), greeting.begin(), greeting.end());
    }
}

StreamConnection::~StreamConnection() = default;

size_t StreamConnection::buffered() const { return out_.size() - outOffset_ + outMessageBytes_; }

void StreamConnection::handleEvents(uint32_t events)
{
    if (closed_) return;
    if (connecting_) {
        finishConnect();
        return;
    }
    if (events & (kReadable | kHangup | kError)) readSome();
    if (!closed_ && (events & kWritable)) writeSome();
}

void StreamConnection::finishConnect()
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) {
        close(fmt::format("connect failed: {}", std::strerror(err)));
        return;
    }
    connecting_ = false;
    everConnected_ = true;
    queueGreeting();
    if (handlers_.onConnected) handlers_.onConnected(*this);
    if (closed_) return;
    writeSome();
    updateEvents();
}

void StreamConnection::readSome()
{
    uint8_t buffer[kReadSize];
    std::vector<Payload> messages;
    // The final read at shutdown takes everything the kernel holds (its buffer bounds it) and
    // ignores back-pressure: those bytes were already acknowledged to the peer.
    const int reads = finalRead_ ? kFinalReads : kReadsPerWakeup;
    for (int i = 0; i < reads && (finalRead_ || (!readPaused_ && !readStopped_)) && !inputEnded_; ++i) {
        if (!finalRead_ && handlers_.mayRead && !handlers_.mayRead()) {
            pauseReading();
            return;
        }
        ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            close(std::strerror(errno));
            return;
        }
        if (n == 0) {
            endOfInput();
            return;
        }
        messages.clear();
        bool ok = decoder_->feed({buffer, size_t(n)}, messages);
        // A seqpacket socket keeps boundaries: one packet is one message.
        if (ok && messageMode_) ok = decoder_->finish(messages);
        if (!messages.empty() && handlers_.onMessages) handlers_.onMessages(*this, messages);
        if (closed_) return;
        if (!ok) {
            close(decoder_->error());
            return;
        }
        if (size_t(n) < sizeof(buffer) && !messageMode_ && !finalRead_) break;  // drained; saves a recv
    }
}

void StreamConnection::endOfInput()
{
    inputEnded_ = true;
    std::vector<Payload> messages;
    bool ok = decoder_->finish(messages);
    if (!messages.empty() && handlers_.onMessages) handlers_.onMessages(*this, messages);
    if (closed_) return;
    if (!ok) {
        close(decoder_->error());
        return;
    }
    if (writeShut_) {  // both directions are done
        close("");
        return;
    }
    updateEvents();
    if (handlers_.onEndOfInput) handlers_.onEndOfInput(*this);
}

std::optional<size_t> StreamConnection::send(const Message &message)
{
    if (closed_ || writeShut_) return 0;
    size_t encoded;
    if (messageMode_) {
        std::vector<uint8_t> frame;
        if (!encoder_->encode(message, frame)) return std::nullopt;
        encoded = frame.size();
        outMessageBytes_ += encoded;
        outMessages_.push_back(std::move(frame));
    } else {
        size_t before = out_.size();
        if (!encoder_->encode(message, out_)) {
            out_.resize(before);  // an encoder that fails appends nothing; make sure of it
            return std::nullopt;
        }
        encoded = out_.size() - before;
    }
    if (full()) wasFull_ = true;
    return encoded;
}

void StreamConnection::writeSome()
{
    if (closed_ || connecting_) return;
    while (messageMode_ && !outMessages_.empty()) {
        const auto &frame = outMessages_.front();
        ssize_t n = ::send(fd_.get(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            close(std::strerror(errno));
            return;
        }
        outMessageBytes_ -= frame.size();
        outMessages_.pop_front();
    }
    while (!messageMode_ && outOffset_ < out_.size()) {
        ssize_t n = ::send(fd_.get(), out_.data() + outOffset_, out_.size() - outOffset_, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            close(std::strerror(errno));
            return;
        }
        outOffset_ += size_t(n);
    }
    if (outOffset_ == out_.size()) {
        out_.clear();
        outOffset_ = 0;
    } else if (outOffset_ > kHighWater) {
        out_.erase(out_.begin(), out_.begin() + ptrdiff_t(outOffset_));  // keep the buffer from creeping
        outOffset_ = 0;
    }
    if (buffered() == 0) {
        if (closePending_) {
            close("");
            return;
        }
        if (shutdownPending_ && !writeShut_) {
            ::shutdown(fd_.get(), SHUT_WR);
            writeShut_ = true;
            if (inputEnded_) {
                close("");
                return;
            }
        }
    }
    updateEvents();
    if (wasFull_ && buffered() < kHighWater / 2) {
        wasFull_ = false;
        if (handlers_.onWritable) handlers_.onWritable(*this);
    }
}

void StreamConnection::updateEvents()
{
    if (closed_) return;
    if (connecting_) {
        watch_->setEvents(kWritable);
        return;
    }
    uint32_t events = 0;
    if (!readPaused_ && !readStopped_ && !inputEnded_) events |= kReadable;
    if (buffered() > 0) events |= kWritable;
    watch_->setEvents(events);
}

void StreamConnection::shutdownWriteWhenDrained()
{
    shutdownPending_ = true;
    writeSome();
}

void StreamConnection::closeWhenDrained()
{
    closePending_ = true;
    writeSome();
}

void StreamConnection::close(const std::string &reason)
{
    if (closed_) return;
    closed_ = true;
    watch_.reset();
    fd_.reset();
    if (handlers_.onClosed) handlers_.onClosed(*this, reason);
}

void StreamConnection::pauseReading()
{
    readPaused_ = true;
    updateEvents();
}

void StreamConnection::resumeReading()
{
    if (!readPaused_) return;
    readPaused_ = false;
    updateEvents();
}

void StreamConnection::stopReading()
{
    if (readStopped_ || closed_) return;
    if (!connecting_) {
        finalRead_ = true;
        readSome();
        finalRead_ = false;
    }
    if (closed_) return;
    readStopped_ = true;
    updateEvents();
}

}  // namespace sockbridge
