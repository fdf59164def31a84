// SPDX-License-Identifier: MIT
// StreamConnection: non-blocking reads through a decoder, buffered writes, half-close.
#include "core/stream_connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/kernel_timestamp.h"
#include "core/log.h"

namespace sockbridge {

namespace {
constexpr size_t kReadSize = 64 * 1024;
constexpr int kReadsPerWakeup = 16;  // fairness: other sockets get a turn
constexpr int kFinalReads = 1024;    // 64 MiB: more than any socket receive buffer holds
// Raw payloads at least this big skip a copy: read into the payload itself, written straight from
// it. Smaller ones are copied to their size (a 64 KiB buffer must not carry a 10-byte message)
// and batched into one write.
constexpr size_t kZeroCopyMin = 16 * 1024;
}  // namespace

StreamConnection::StreamConnection(EventLoop &loop, UniqueFd fd, std::string peer, uint64_t id,
                                   const FormatKind &format, const FormatOptions &options, bool messageMode,
                                   bool connecting, Handlers handlers)
    : loop_(loop), fd_(std::move(fd)), peer_(std::move(peer)), id_(id), messageMode_(messageMode),
      passthrough_(format.passthrough), maxMessage_(options.maxMessage), connecting_(connecting),
      handlers_(std::move(handlers)), outgoing_(connecting)
{
    if (format.makeSession) {
        // A session format: decoder and encoder share the connection's protocol state.
        SessionCodec codec = format.makeSession(options);
        decoder_ = std::move(codec.decoder);
        encoder_ = std::move(codec.encoder);
        separateReplies_ = true;
        services_ = options.sessionServices;
        decoder_->attach(*this);
    } else {
        decoder_ = format.makeDecoder(options);
        encoder_ = format.makeEncoder(options);
    }
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
    if (separateReplies_) {
        queueSeparateWrite(std::move(greeting), true);
        return;
    }
    if (messageMode_) {
        outMessageBytes_ += greeting.size();
        outMessages_.push_front(std::move(greeting));
    } else {
        out_.insert(out_.begin() + ptrdiff_t(outOffset_), greeting.begin(), greeting.end());
    }
}

// One send() for these bytes alone (a session format's greeting or reply). In message mode
// every message is its own send() already.
void StreamConnection::queueSeparateWrite(std::vector<uint8_t> bytes, bool atFront)
{
    if (messageMode_) {
        outMessageBytes_ += bytes.size();
        if (atFront)
            outMessages_.push_front(std::move(bytes));
        else
            outMessages_.push_back(std::move(bytes));
        return;
    }
    const size_t size = bytes.size();
    if (atFront) {
        out_.insert(out_.begin() + ptrdiff_t(outOffset_), bytes.begin(), bytes.end());
        for (size_t &cut : cuts_) cut += size;
        cuts_.push_front(outOffset_ + size);
        return;
    }
    if (out_.size() > outOffset_ && (cuts_.empty() || cuts_.back() != out_.size()))
        cuts_.push_back(out_.size());  // what is buffered before goes in a send() of its own
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    cuts_.push_back(out_.size());
}

// A session decoder's answers to what it was just fed, sent at once, each in its own send().
void StreamConnection::sendReplies()
{
    if (!separateReplies_ || closed_) return;
    std::vector<Payload> replies;
    decoder_->takeReplies(replies);
    if (replies.empty()) return;
    if (writeShut_) return;
    for (auto &reply : replies) queueSeparateWrite(std::move(reply), false);
    writeSome();
}

StreamConnection::~StreamConnection() { unlinkSplice(); }

bool StreamConnection::openSideSocket(std::string_view target, std::string &why)
{
    closeSideSocket();
    if (!services_ || !services_->openSocket) {
        why = "not available on this listener";
        return false;
    }
    UniqueFd fd = services_->openSocket(target, why);
    if (!fd) return false;
    sideFd_ = std::move(fd);
    sideWatch_ = loop_.watchIo(sideFd_.get(), kReadable, [this](uint32_t) { readSide(); });
    return true;
}

void StreamConnection::closeSideSocket()
{
    sideWatch_.reset();
    sideFd_.reset();
}

int StreamConnection::sendSide(std::span<const uint8_t> datagram)
{
    if (!sideFd_) return -ENOTCONN;
    ssize_t n = ::send(sideFd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) return -errno;
    return n == ssize_t(datagram.size()) ? 0 : -EIO;
}

// Datagrams from the side socket go to the decoder with their kernel time (SO_TIMESTAMPNS when
// the socket has it, else the time of reading); its answers are sent as replies.
void StreamConnection::readSide()
{
    alignas(8) uint8_t data[4096];
    ControlSpace control;
    for (int i = 0; i < kReadsPerWakeup && sideFd_ && !closed_; ++i) {
        if (full()) {
            // The peer reads slower than the side socket delivers: leave the rest in the kernel
            // (its buffer bounds it) until writeSome() has drained ours.
            sideWatch_->setEvents(0);
            break;
        }
        const ReceivedDatagram datagram = receiveWithControl(sideFd_.get(), data, control);
        if (datagram.length < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                logf(LogLevel::Warning, "Session of {}: side socket failed: {}; closing it", peer_, std::strerror(errno));
                closeSideSocket();
            }
            break;
        }
        decoder_->sideReceived({data, size_t(datagram.length)}, datagram.timestampNs);
    }
    sendReplies();
}

void StreamConnection::setTick(std::chrono::milliseconds interval)
{
    tickInterval_ = interval;
    if (!tickTimer_) tickTimer_ = loop_.makeTimer([this] { tickNow(); });
    if (interval.count() > 0)
        tickTimer_->arm(interval);
    else
        tickTimer_->disarm();
}

void StreamConnection::tickNow()
{
    if (closed_) return;
    if (tickInterval_.count() > 0) tickTimer_->arm(tickInterval_);
    decoder_->tick();
    sendReplies();
}

std::optional<LinkCounters> StreamConnection::linkCounters(std::string_view interface)
{
    if (!services_ || !services_->linkCounters) return std::nullopt;
    return services_->linkCounters(interface);
}

size_t StreamConnection::buffered() const
{
    return out_.size() - outOffset_ + outMessageBytes_ + (spliceSource_ ? spliceSource_->pipeBytes_ : 0);
}

void StreamConnection::handleEvents(uint32_t events)
{
    if (closed_) return;
    if (connecting_) {
        finishConnect();
        return;
    }
    if (handshaking_) {
        continueHandshake();
        return;
    }
    // TLS may need the other readiness: a read that waits for the socket to take a record, a
    // write that waits for one to arrive.
    if (events & (kReadable | kHangup | kError)) {
        if (writeWantsReadable_) writeSome();
        if (!closed_) readSome();
    }
    if (!closed_ && (events & kWritable)) {
        if (readWantsWritable_) readSome();
        if (!closed_) writeSome();
    }
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
    if (tls_) {
        startHandshake();
        return;
    }
    connectionReady();
}

// An outgoing connection is up (and through its TLS handshake): greet, tell the listener, write.
void StreamConnection::connectionReady()
{
    everConnected_ = true;
    queueGreeting();
    if (handlers_.onConnected) handlers_.onConnected(*this);
    if (closed_) return;
    writeSome();
    updateEvents();
}

void StreamConnection::useTls(const TlsEndpoint &tls)
{
    tls_ = tls.open(fd_.get());
    handshakeTimeout_ = tls.handshakeTimeout;
    handshakeTimer_ = loop_.makeTimer([this] {
        tlsRefused_ = true;
        close(fmt::format("no TLS handshake within {}ms", handshakeTimeout_.count() / 1000000));
    });
    if (!connecting_) startHandshake();  // an outgoing one starts once connect() completes
}

void StreamConnection::startHandshake()
{
    handshaking_ = true;
    handshakeTimer_->arm(handshakeTimeout_);
    // The client speaks first; an outgoing connection's first flight goes at once.
    handshakeWants_ = outgoing_ ? kWritable : kReadable;
    updateEvents();
}

void StreamConnection::continueHandshake()
{
    switch (tls_->handshake()) {
    case TlsSession::Result::Done: break;
    case TlsSession::Result::WantRead:
        handshakeWants_ = kReadable;
        updateEvents();
        return;
    case TlsSession::Result::WantWrite:
        handshakeWants_ = kWritable;
        updateEvents();
        return;
    case TlsSession::Result::Closed:
    case TlsSession::Result::Failed:
        tlsRefused_ = true;
        close(tls_->error().empty() ? "the peer closed the connection during the TLS handshake" : tls_->error());
        return;
    }
    handshaking_ = false;
    handshakeTimer_->disarm();
    tlsDescription_ = tls_->describe();
    if (outgoing_) {
        connectionReady();
        return;
    }
    writeSome();  // what was queued meanwhile: a greeting, broadcast messages
    if (!closed_) readSome();  // the client's first bytes may have come with its last handshake flight
}

ssize_t StreamConnection::receive(uint8_t *data, size_t size)
{
    if (!tls_) return ::recv(fd_.get(), data, size, MSG_DONTWAIT);
    readWantsWritable_ = false;
    size_t done = 0;
    switch (tls_->read(data, size, done)) {
    case TlsSession::Result::Done: return ssize_t(done);
    case TlsSession::Result::Closed: return 0;
    case TlsSession::Result::WantWrite:
        readWantsWritable_ = true;
        updateEvents();
        [[fallthrough]];
    case TlsSession::Result::WantRead: errno = EAGAIN; return -1;
    case TlsSession::Result::Failed: break;
    }
    errno = EPROTO;
    return -1;
}

ssize_t StreamConnection::transmit(const uint8_t *data, size_t size)
{
    if (!tls_) return ::send(fd_.get(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    writeWantsReadable_ = false;
    size_t done = 0;
    switch (tls_->write(data, size, done)) {
    case TlsSession::Result::Done: return ssize_t(done);
    case TlsSession::Result::WantRead: writeWantsReadable_ = true; [[fallthrough]];
    case TlsSession::Result::WantWrite: errno = EAGAIN; return -1;
    case TlsSession::Result::Closed:
    case TlsSession::Result::Failed: break;
    }
    errno = EPROTO;
    return -1;
}

std::string StreamConnection::ioError(int error) const
{
    if (tls_ && error == EPROTO && !tls_->error().empty()) return tls_->error();
    return std::strerror(error);
}

void StreamConnection::readSome()
{
    if (spliceTarget_ && !finalRead_) {
        spliceIn();
        return;
    }
    // The final read at shutdown takes what the kernel held when it began (finalReadLeft_, so a
    // peer that keeps sending cannot hold the shutdown off) and ignores back-pressure: those
    // bytes were already acknowledged to the peer.
    const int reads = finalRead_ ? kFinalReads : kReadsPerWakeup;
    // Under TLS the kernel's byte count is ciphertext: no bound to read against.
    const bool finalByteBound = finalRead_ && !messageMode_ && !tls_;
    std::vector<Payload> messages;
    Payload buffer;
    for (int i = 0; i < reads && (finalRead_ || (!readPaused_ && !readStopped_)) && !inputEnded_; ++i) {
        if (!finalRead_ && handlers_.mayRead && !handlers_.mayRead()) {
            pauseReading();
            return;
        }
        if (finalByteBound && finalReadLeft_ == 0) break;
        buffer.resize(finalByteBound ? std::min(kReadSize, finalReadLeft_) : kReadSize);
        ssize_t n = receive(buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            close(ioError(errno));
            return;
        }
        if (n == 0) {
            endOfInput();
            return;
        }
        if (finalByteBound) finalReadLeft_ -= std::min(size_t(n), finalReadLeft_);
        messages.clear();
        bool ok = true;
        // Not under TLS: a record (16 KiB) would keep the whole 64 KiB buffer alive in a queue.
        if (passthrough_ && size_t(n) >= kZeroCopyMin && size_t(n) <= maxMessage_ && !tls_) {
            buffer.resize(size_t(n));
            messages.push_back(std::move(buffer));
            buffer = Payload();
        } else {
            ok = decoder_->feed({buffer.data(), size_t(n)}, messages);
            // A seqpacket socket keeps boundaries: one packet is one message.
            if (ok && messageMode_) ok = decoder_->finish(messages);
        }
        if (!messages.empty() && handlers_.onMessages) handlers_.onMessages(*this, messages);
        if (closed_) return;
        sendReplies();
        if (closed_) return;
        if (!ok) {
            close(decoder_->error());
            return;
        }
        // Drained; saves a recv. Not under TLS: one read yields one record (16 KiB at most) and
        // the socket may hold more.
        if (size_t(n) < kReadSize && !messageMode_ && !finalRead_ && !tls_) break;
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
    } else if (passthrough_ && message.size() >= kZeroCopyMin && buffered() == 0 && !connecting_ && !tls_) {
        // Straight from the message; only what the socket does not take now is copied.
        encoded = message.size();
        ssize_t n = ::send(fd_.get(), message.data.data(), encoded, MSG_DONTWAIT | MSG_NOSIGNAL);
        size_t sent = n > 0 ? size_t(n) : 0;
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            close(std::strerror(errno));
            return 0;
        }
        out_.insert(out_.end(), message.data.begin() + ptrdiff_t(sent), message.data.end());
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
    if (closed_ || connecting_ || handshaking_) return;
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
        const size_t end = cuts_.empty() ? out_.size() : cuts_.front();
        ssize_t n = transmit(out_.data() + outOffset_, end - outOffset_);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            close(ioError(errno));
            return;
        }
        outOffset_ += size_t(n);
        while (!cuts_.empty() && cuts_.front() <= outOffset_) cuts_.pop_front();
    }
    if (outOffset_ == out_.size()) {
        out_.clear();
        outOffset_ = 0;
        cuts_.clear();
        // Spliced bytes came after everything in out_, so they go after it too.
        if (spliceSource_ && spliceSource_->pipeBytes_ > 0) {
            pushSplicedBytes();
            if (closed_) return;
        }
    } else if (outOffset_ > kHighWater) {
        out_.erase(out_.begin(), out_.begin() + ptrdiff_t(outOffset_));  // keep the buffer from creeping
        for (size_t &cut : cuts_) cut -= outOffset_;
        outOffset_ = 0;
    }
    if (buffered() == 0) {
        if (closePending_) {
            close("");
            return;
        }
        if (shutdownPending_ && !writeShut_) {
            if (tls_) tls_->shutdown();  // close_notify: the TLS way to say "no more data"
            ::shutdown(fd_.get(), SHUT_WR);
            writeShut_ = true;
            if (inputEnded_) {
                close("");
                return;
            }
        }
    }
    updateEvents();
    if (sideWatch_ && !sideWatch_->events() && buffered() < kHighWater / 2) sideWatch_->setEvents(kReadable);
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
    if (handshaking_) {
        watch_->setEvents(handshakeWants_);
        return;
    }
    uint32_t events = 0;
    if (!readPaused_ && !readStopped_ && !inputEnded_) events |= kReadable;
    if (buffered() > 0) events |= kWritable;
    if (readWantsWritable_) events |= kWritable;
    if (writeWantsReadable_) events |= kReadable;
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
    moveSplicedBytesToTarget();  // what this side read must still reach the other
    unlinkSplice();
    closed_ = true;
    watch_.reset();
    if (handshakeTimer_) handshakeTimer_->disarm();  // not freed: close() may run inside its handler
    if (tls_ && !handshaking_) tls_->shutdown();
    tls_.reset();  // before the fd: the session must not outlive its socket
    fd_.reset();
    closeSideSocket();
    if (tickTimer_) tickTimer_->disarm();
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
    moveSplicedBytesToTarget();  // the final read below goes the copying way, after these
    if (!connecting_ && !handshaking_) {
        finalRead_ = true;
        // SIOCINQ: the bytes of a stream socket waiting to be read now.
        int queued = 0;
        finalReadLeft_ = ::ioctl(fd_.get(), FIONREAD, &queued) == 0 && queued >= 0 ? size_t(queued) : kFinalReads * kReadSize;
        readSome();
        finalRead_ = false;
    }
    if (closed_) return;
    readStopped_ = true;
    updateEvents();
}

}  // namespace sockbridge

namespace sockbridge {

namespace {
constexpr size_t kPipeSize = 1024 * 1024;
}  // namespace

bool StreamConnection::spliceTo(StreamConnection &target)
{
    // Not under TLS: the bytes on the socket are records, not the plaintext the other side needs.
    if (!passthrough_ || !target.passthrough_ || messageMode_ || target.messageMode_ || spliceTarget_ ||
        target.spliceSource_ || tls_ || target.tls_)
        return false;
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    pipeRead_.reset(fds[0]);
    pipeWrite_.reset(fds[1]);
    // A bigger pipe moves more per system call; the default (64 KiB) still works.
    (void)::fcntl(pipeWrite_.get(), F_SETPIPE_SZ, int(kPipeSize));
    spliceTarget_ = &target;
    target.spliceSource_ = this;
    return true;
}

// Only an empty pipe is filled, so EAGAIN from the socket means it has nothing more for now.
void StreamConnection::spliceIn()
{
    for (int i = 0; i < kReadsPerWakeup && !readPaused_ && !readStopped_ && !inputEnded_; ++i) {
        if (!spliceTarget_ || spliceTarget_->closed()) return;
        if (pipeBytes_ > 0) {
            pauseReading();  // the target resumes us once it has taken the pipe's bytes
            return;
        }
        ssize_t n = ::splice(fd_.get(), nullptr, pipeWrite_.get(), nullptr, kPipeSize,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            close(std::strerror(errno));
            return;
        }
        if (n == 0) {
            endOfInput();
            return;
        }
        pipeBytes_ += size_t(n);
        if (handlers_.onSpliced) handlers_.onSpliced(*this, size_t(n));
        spliceTarget_->writeSome();
        if (closed_) return;
    }
}

// Called on the target: moves the source's piped bytes into this socket.
void StreamConnection::pushSplicedBytes()
{
    StreamConnection &source = *spliceSource_;
    while (source.pipeBytes_ > 0) {
        ssize_t n = ::splice(source.pipeRead_.get(), nullptr, fd_.get(), nullptr, source.pipeBytes_,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            close(std::strerror(errno));
            return;
        }
        source.pipeBytes_ -= size_t(n);
    }
    source.resumeReading();
}

// The copying path takes over (shutdown, or this side closing): bytes still in the pipe move to
// the target's write buffer, ahead of anything read later.
void StreamConnection::moveSplicedBytesToTarget()
{
    if (!spliceTarget_ || pipeBytes_ == 0) return;
    std::vector<uint8_t> &out = spliceTarget_->out_;
    while (pipeBytes_ > 0) {
        size_t at = out.size();
        out.resize(at + pipeBytes_);
        ssize_t n = ::read(pipeRead_.get(), out.data() + at, pipeBytes_);
        out.resize(at + size_t(std::max<ssize_t>(n, 0)));
        if (n <= 0) break;
        pipeBytes_ -= size_t(n);
    }
    spliceTarget_->updateEvents();
}

void StreamConnection::unlinkSplice()
{
    if (spliceTarget_) spliceTarget_->spliceSource_ = nullptr;
    if (spliceSource_) spliceSource_->spliceTarget_ = nullptr;
    spliceTarget_ = nullptr;
    spliceSource_ = nullptr;
}

}  // namespace sockbridge
