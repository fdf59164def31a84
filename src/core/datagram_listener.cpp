// SPDX-License-Identifier: MIT
// DatagramListener: one datagram in is decoded on its own; messages out are sent in batches.
#include "core/datagram_listener.h"

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace sockbridge {

namespace {
constexpr size_t kDatagramMax = 65536;
}  // namespace

DatagramListener::DatagramListener(std::string name, EventLoop &loop, const FormatKind &format,
                                   const FormatOptions &options, DatagramSocketOps ops)
    : Listener(std::move(name), loop), format_(format), options_(options), decoder_(format.makeDecoder(options)),
      encoder_(format.makeEncoder(options)), ops_(std::move(ops)), flushTimer_(loop.makeTimer([this] {
          if (open_) closeBatch();
          sendPending();
      }))
{
}

DatagramListener::~DatagramListener() = default;

void DatagramListener::start()
{
    const bool inherited = fd_.isValid();
    if (!inherited) fd_ = ops_.open();
    // The address the socket really has: an ephemeral port is where a peer's replies must come.
    SocketAddress local;
    local.length = sizeof(local.storage);
    if (::getsockname(fd_.get(), local.get(), &local.length) == 0 && local.family() != AF_UNIX)
        ops_.localName = local.toString();
    watch_ = loop().watchIo(fd_.get(), kReadable, [this](uint32_t events) {
        if (events & (kReadable | kError)) receive();
        if (events & kWritable) sendPending();
    });
    logf(LogLevel::Info, LogFields{.listener = name()}, "Listener '{}' on {}{}", name(), ops_.localName,
         inherited ? " (socket from systemd)" : "");
}

std::string DatagramListener::describe() const
{
    if (ops_.peer) return fmt::format("{} → {}", ops_.localName, ops_.peer->toString());
    return fmt::format("{}{}", ops_.localName,
                       lastSender_ ? fmt::format(", replying to {}", lastSender_->toString()) : "");
}

std::vector<std::string> DatagramListener::peers() const
{
    const SocketAddress *to = destination();
    if (!to) return {};
    return {to->toString()};
}

const SocketAddress *DatagramListener::destination() const
{
    if (ops_.peer) return &*ops_.peer;
    if (ops_.replyToLastSender && lastSender_) return &*lastSender_;
    return nullptr;
}

void DatagramListener::receive()
{
    receiveBatches();
    if (fd_) kernelDrops_.count(fd_.get(), name(), counters());
}

void DatagramListener::receiveBatches()
{
    if (!slots_) {
        // Set up once: only the address lengths change between calls.
        slots_ = std::make_unique<ReceiveSlots>();
        slots_->buffers.resize(kBatch * kDatagramMax);
        for (size_t i = 0; i < kBatch; ++i) {
            slots_->iovs[i] = {slots_->buffers.data() + i * kDatagramMax, kDatagramMax};
            slots_->headers[i].msg_hdr.msg_name = &slots_->addresses[i];
            slots_->headers[i].msg_hdr.msg_iov = &slots_->iovs[i];
            slots_->headers[i].msg_hdr.msg_iovlen = 1;
        }
    }
    mmsghdr *headers = slots_->headers;
    const iovec *iovs = slots_->iovs;
    std::vector<Payload> payloads;
    // The final read at shutdown takes what the kernel already holds and ignores back-pressure.
    const int rounds = finalRead_ ? 1024 : 8;
    for (int round = 0; round < rounds && (finalRead_ || (reading_ && !stopped_)); ++round) {
        if (!finalRead_ && !mayRead()) {
            reading_ = false;
            updateEvents();
            return;
        }
        for (size_t i = 0; i < kBatch; ++i) headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        int n = ::recvmmsg(fd_.get(), headers, kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                // ECONNREFUSED and the like: an ICMP error for an earlier send.
                logf(LogLevel::Debug, "Listener '{}': receive error: {}", name(), std::strerror(errno));
                ++counters().errors;
                continue;
            }
            return;
        }
        int64_t now = realtimeNowNs();
        for (int i = 0; i < n; ++i) {
            const msghdr &header = headers[i].msg_hdr;
            SocketAddress from;
            std::memcpy(&from.storage, &slots_->addresses[i], header.msg_namelen);
            from.length = header.msg_namelen;
            // Before anything else: a refused sender must not become the reply target either.
            if (!ops_.allow.admits(from)) {
                std::string sender = from.toString();
                logf(LogLevel::Warning, LogFields{.listener = name(), .peer = sender, .reason = "not allowed"},
                     "Listener '{}': dropping a datagram from {}: not in the allow list", name(), sender);
                ++counters().refused;
                continue;
            }
            if (header.msg_flags & MSG_TRUNC) {
                std::string sender = from.toString();
                logf(LogLevel::Warning, LogFields{.listener = name(), .peer = sender, .reason = "bad datagram"},
                     "Listener '{}': dropping a truncated datagram from {}", name(), sender);
                ++counters().errors;
                continue;
            }
            if (from.length > sizeof(sa_family_t)) lastSender_ = from;
            payloads.clear();
            bool ok = decoder_->feed({reinterpret_cast<const uint8_t *>(iovs[i].iov_base), headers[i].msg_len},
                                     payloads) &&
                      decoder_->finish(payloads);
            counters().lost += decoder_->takeLost();
            if (!ok) {
                std::string sender = from.toString();
                logf(LogLevel::Warning, LogFields{.listener = name(), .peer = sender, .reason = "bad datagram"},
                     "Listener '{}': dropping a datagram from {}: {}", name(), sender, decoder_->error());
                ++counters().errors;
                decoder_ = format_.makeDecoder(options_);  // a failed decoder is not fed again
            }
            // Formatting an address costs more than relaying a datagram: a sender's is formatted once.
            if (!(from == peerAddress_)) {
                peerAddress_ = from;
                peerName_ = from.toString();
            }
            for (auto &payload : payloads) {
                Message message;
                message.kind = format_.messageKind.value_or(MessageKind::Datagram);
                message.linkType = format_.linkType;
                message.data = std::move(payload);
                message.timestampNs = now;
                message.peer = peerName_;
                emit(std::move(message));
            }
        }
        if (size_t(n) < kBatch) return;
    }
}

void DatagramListener::drain()
{
    BatchEncoder *batch = encoder_->batching();
    // Keep a bounded number encoded; the rest waits in the route queues.
    while (pending_.size() < kBatch) {
        MessagePtr message = nextInput();
        if (!message) break;
        const SocketAddress *to = destination();
        if (!to) {
            if (!warnedNoPeer_)
                logf(LogLevel::Warning, "Listener '{}': dropping messages: {}", name(),
                     ops_.replyToLastSender ? "no peer has sent a datagram yet" : "it has no 'peer' and 'reply' is none");
            warnedNoPeer_ = true;
            ++counters().drops;
            continue;
        }
        if (batch) {
            addToBatch(*batch, *message, *to);
            continue;
        }
        if (format_.passthrough) {
            counters().countOut(message->size());
            pending_.push_back(Outgoing{{}, *to, std::move(message)});
            continue;
        }
        Outgoing out{{}, *to, nullptr};
        if (!encoder_->encode(*message, out.bytes)) {
            countUnencodable(*message);
            continue;
        }
        pending_.push_back(std::move(out));
        counters().countOut(message->size());
    }
    if (open_ && options_.flushTimeout.count() == 0) closeBatch();
    sendPending();
}

// Appends the message to the open datagram; a full datagram (or one to another destination)
// is queued first. The flush timer starts with a datagram's first message.
void DatagramListener::addToBatch(BatchEncoder &batch, const Message &message, const SocketAddress &to)
{
    scratch_.clear();
    if (!batch.add(message, scratch_)) {
        countUnencodable(message);
        return;
    }
    if (open_ && (!(open_->to == to) || open_->bytes.size() + scratch_.size() > options_.mtu)) closeBatch();
    if (!open_) {
        open_.emplace(Outgoing{{}, to, nullptr});
        open_->bytes.reserve(options_.mtu);
        batch.begin(open_->bytes);
        openCount_ = 0;
        if (options_.flushTimeout.count() > 0) flushTimer_->arm(options_.flushTimeout);
    }
    open_->bytes.insert(open_->bytes.end(), scratch_.begin(), scratch_.end());
    ++openCount_;
    counters().countOut(message.size());
}

void DatagramListener::closeBatch()
{
    flushTimer_->disarm();
    encoder_->batching()->end(open_->bytes, openCount_);
    pending_.push_back(std::move(*open_));
    open_.reset();
}

void DatagramListener::countUnencodable(const Message &message)
{
    logf(warnedUnencodable_ ? LogLevel::Debug : LogLevel::Warning,
         "Listener '{}': dropping a {} message from '{}' that format '{}' cannot carry", name(),
         messageKindName(message.kind), message.source, format_.name);
    warnedUnencodable_ = true;
    ++counters().errors;
}

void DatagramListener::sendPending()
{
    while (!pending_.empty()) {
        mmsghdr headers[kBatch];
        iovec iovs[kBatch];
        size_t count = std::min(pending_.size(), kBatch);
        for (size_t i = 0; i < count; ++i) {
            Outgoing &out = pending_[i];
            std::span<const uint8_t> payload = out.payload();
            iovs[i] = {const_cast<uint8_t *>(payload.data()), payload.size()};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_name = const_cast<sockaddr *>(out.to.get());
            headers[i].msg_hdr.msg_namelen = out.to.length;
        }
        int n = ::sendmmsg(fd_.get(), headers, unsigned(count), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) break;
            // This datagram cannot go (refused, too big, unreachable): count it and go on.
            logf(LogLevel::Debug, "Listener '{}': failed to send to {}: {}", name(), pending_.front().to.toString(),
                 std::strerror(errno));
            ++counters().errors;
            pending_.pop_front();
            continue;
        }
        pending_.erase(pending_.begin(), pending_.begin() + n);
        if (pending_.empty() && hasInput()) drain();  // refill: more is queued
    }
    updateEvents();
}

void DatagramListener::updateEvents()
{
    if (!watch_) return;
    uint32_t events = 0;
    if (reading_ && !stopped_) events |= kReadable;
    if (!pending_.empty()) events |= kWritable;
    watch_->setEvents(events);
}

void DatagramListener::stopReading()
{
    if (stopped_) return;
    if (fd_) {
        finalRead_ = true;
        receive();
        finalRead_ = false;
    }
    stopped_ = true;
    updateEvents();
}

void DatagramListener::resumeReading()
{
    reading_ = true;
    updateEvents();
}

}  // namespace sockbridge
