// SPDX-License-Identifier: MIT
// StreamListener: accepting clients or connecting out with backoff, broadcast, per_connection pairs.
#include "core/stream_listener.h"

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace sockbridge {

namespace {
// Unnamed unix clients have no address; logs still need a word for them.
std::string shown(const std::string &peer) { return peer.empty() ? "an unnamed client" : peer; }

}  // namespace

StreamListener::StreamListener(std::string name, EventLoop &loop, const FormatKind &format,
                               const FormatOptions &options, StreamSocketOps ops, MessageKind kind)
    : Listener(std::move(name), loop), format_(format), options_(options), ops_(std::move(ops)),
      kind_(format.messageKind.value_or(kind)),
      acceptPause_(loop),
      reap_(loop.makeDeferred([this] { closing_.clear(); })),
      reconnectTimer_(loop.makeTimer([this] { connectNow(); })), backoff_(ops_.backoff)
{
}

StreamListener::~StreamListener() = default;

void StreamListener::start()
{
    if (ops_.connecting) {
        if (!ops_.onDemand) connectNow();
        return;
    }
    const bool inherited = listenFd_.isValid();
    if (!inherited) listenFd_ = ops_.openListening();
    listenWatch_ = loop().watchIo(listenFd_.get(), kReadable, [this](uint32_t) { acceptClients(); });
    logf(LogLevel::Info, LogFields{.listener = name()}, "Listener '{}' listening on {}{}", name(), ops_.localName,
         inherited ? " (socket from systemd)" : "");
    startAnnouncing();
}

void StreamListener::startAnnouncing()
{
    if (!options_.beacon || !format_.announcement) return;
    SocketAddress listening;
    listening.length = sizeof(listening.storage);
    if (getsockname(listenFd_.get(), listening.get(), &listening.length) < 0) return;
    announcer_ = std::make_unique<Announcer>(
        loop(), name(), options_.beacon->to, options_.beacon->interval, listening,
        [this](const SocketAddress &server) { return format_.announcement(options_, server); });
}

void StreamListener::adoptSocket(UniqueFd fd)
{
    if (ops_.connecting)
        throw StartupError(fmt::format("Failed to use the socket from systemd for listener '{}': it connects out",
                                       name()));
    listenFd_ = std::move(fd);
}

std::string StreamListener::describe() const
{
    if (ops_.connecting) {
        if (ops_.onDemand) return fmt::format("connects to {} per client, {} open", ops_.localName, connections_.size());
        return fmt::format("{} {}", outgoing_ && outgoing_->connected() ? "connected to" : "connecting to",
                           ops_.localName);
    }
    std::string text = fmt::format("listening on {}, {} clients", ops_.localName, connections_.size());
    if (announcer_)
        text += fmt::format(", beacon to {}: {} sent, {} failed", options_.beacon->to.toString(), announcer_->sent(),
                            announcer_->failed());
    return text;
}

std::vector<std::string> StreamListener::peers() const
{
    std::vector<std::string> out;
    for (const auto &[id, connection] : connections_)
        if (connection->connected()) out.push_back(connection->peer().empty() ? "(unnamed)" : connection->peer());
    return out;
}

StreamConnection &StreamListener::adopt(UniqueFd fd, std::string peer, bool connecting,
                                        StreamConnection::Handlers handlers)
{
    if (!connecting) ops_.configure(fd.get());
    uint64_t id = nextId_++;
    auto connection = std::make_unique<StreamConnection>(loop(), std::move(fd), std::move(peer), id, format_,
                                                         options_, ops_.messageMode, connecting, std::move(handlers));
    StreamConnection &ref = *connection;
    connections_.emplace(id, std::move(connection));
    if (ops_.tls) ref.useTls(*ops_.tls);
    return ref;
}

// Handlers may run inside the connection's own member functions: free it on the next iteration.
void StreamListener::forget(StreamConnection &connection)
{
    auto it = connections_.find(connection.id());
    if (it == connections_.end()) return;
    closing_.push_back(std::move(it->second));
    connections_.erase(it);
    reap_->schedule();
    acceptPause_.retryNow();  // its descriptor is freed on the next iteration
    notifyInput();  // a full client may have been what held the queue back
}

// At the client limit: a client that reset its connection while the daemon was busy elsewhere
// (its error not yet read) is closed first, so that it does not keep a newcomer out. A client
// that only ended its sending half (EOF) may still be reading, and stays.
void StreamListener::closeResetClients()
{
    std::vector<std::pair<uint64_t, int>> reset;
    for (const auto &[id, connection] : connections_) {
        char byte;
        if (connection->connected() && ::recv(connection->fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
            errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            reset.emplace_back(id, errno);
    }
    for (const auto &[id, error] : reset)
        if (auto it = connections_.find(id); it != connections_.end()) it->second->close(std::strerror(error));
}

void StreamListener::acceptClients()
{
    while (!stopped_) {
        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        UniqueFd fd(::accept4(listenFd_.get(), reinterpret_cast<sockaddr *>(&address), &length,
                              SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (AcceptPause::isShortage(errno)) {
                if (acceptPause_.pause(*listenWatch_)) {
                    ++counters().errors;
                    logf(LogLevel::Warning, LogFields{.listener = name(), .reason = "accept failed"},
                         "Listener '{}': failed to accept a client: {}; accepting paused, retrying every {} ms",
                         name(), std::strerror(errno), AcceptPause::kRetryDelay.count());
                }
                return;
            }
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                logf(LogLevel::Warning, LogFields{.listener = name(), .reason = "accept failed"},
                     "Listener '{}': failed to accept a client: {}", name(), std::strerror(errno));
                ++counters().errors;
            }
            return;
        }
        if (acceptPause_.accepted()) {
            logf(LogLevel::Notice, LogFields{.listener = name()}, "Listener '{}': accepting clients again", name());
        }
        std::string peer = ops_.peerName(address, length);
        if (!ops_.allow.admits(reinterpret_cast<const sockaddr *>(&address), length)) {
            logf(LogLevel::Warning, LogFields{.listener = name(), .peer = peer, .reason = "not allowed"},
                 "Listener '{}': refusing client {}: not in the allow list", name(), shown(peer));
            ++counters().refused;
            continue;  // closing the fd is the refusal: the client sees the connection end
        }
        if (connections_.size() >= ops_.maxClients) closeResetClients();
        if (connections_.size() >= ops_.maxClients) {
            logf(LogLevel::Warning, LogFields{.listener = name(), .peer = peer, .reason = "client limit"},
                 "Listener '{}': refusing client {}: the limit of {} clients is reached", name(),
                 shown(peer), ops_.maxClients);
            ++counters().errors;
            continue;
        }
        ++counters().connects;
        logf(LogLevel::Info, LogFields{.listener = name(), .peer = peer}, "Listener '{}': client {} connected", name(),
             shown(peer));
        if (pairTarget_) {
            acceptPaired(std::move(fd), std::move(peer));
            continue;
        }
        StreamConnection &client = adopt(std::move(fd), std::move(peer), false, routedHandlers());
        if (!reading_) client.pauseReading();
        notifyInput();  // what was queued while nobody was connected
    }
}

StreamConnection::Handlers StreamListener::routedHandlers()
{
    StreamConnection::Handlers handlers;
    handlers.onMessages = [this](StreamConnection &connection, std::vector<Payload> &payloads) {
        for (auto &payload : payloads) {
            Message message;
            message.kind = kind_;
            message.linkType = format_.linkType;
            message.data = std::move(payload);
            message.timestampNs = realtimeNowNs();
            message.peer = connection.peer();
            message.connectionId = connection.id();
            message.target = connection.target();
            emit(std::move(message));
        }
    };
    handlers.mayRead = [this] {
        if (!mayRead()) reading_ = false;
        return reading_;
    };
    // A client that is done sending is closed once what is buffered for it is written, as most
    // servers do; per_connection routes are where half-closes are passed on instead.
    handlers.onEndOfInput = [](StreamConnection &connection) { connection.closeWhenDrained(); };
    handlers.onClosed = [this](StreamConnection &connection, const std::string &reason) {
        if (connection.tlsRefused()) ++counters().refused;
        if (&connection == outgoing_ && !connection.everConnected()) {
            // A failed attempt: scheduleReconnect() says so, rate-limited.
        } else if (connection.tlsRefused()) {
            logf(LogLevel::Warning, LogFields{.listener = name(), .peer = connection.peer(), .reason = "TLS refused"},
                 "Listener '{}': refusing client {}: {}", name(), shown(connection.peer()), reason);
        } else if (reason.empty()) {
            logf(LogLevel::Info, LogFields{.listener = name(), .peer = connection.peer()}, "Listener '{}': {} closed",
                 name(), shown(connection.peer()));
        } else {
            logf(LogLevel::Warning, LogFields{.listener = name(), .peer = connection.peer(), .reason = "closing a client"},
                 "Listener '{}': closing {}: {}", name(), shown(connection.peer()), reason);
            ++counters().errors;
        }
        bool wasOutgoing = &connection == outgoing_;
        forget(connection);
        if (wasOutgoing) {
            outgoing_ = nullptr;
            scheduleReconnect(reason.empty() ? "the peer closed the connection" : reason);
        }
    };
    handlers.onConnected = [this](StreamConnection &connection) {
        logf(LogLevel::Info, "Listener '{}': connected to {}{}", name(), connection.peer(),
             connection.tlsDescription().empty() ? "" : fmt::format(" ({})", connection.tlsDescription()));
        ++counters().connects;
        if (everConnected_) ++counters().reconnects;
        everConnected_ = true;
        backoff_.reset();
        notifyInput();
    };
    handlers.onWritable = [this](StreamConnection &) { notifyInput(); };
    return handlers;
}

void StreamListener::connectNow()
{
    int error = 0;
    UniqueFd fd = ops_.startConnect(error);
    if (!fd) {
        scheduleReconnect(std::strerror(error));
        return;
    }
    ops_.configure(fd.get());
    outgoing_ = &adopt(std::move(fd), ops_.localName, true, routedHandlers());
    if (!reading_) outgoing_->pauseReading();
}

void StreamListener::scheduleReconnect(const std::string &why)
{
    auto delay = backoff_.nextDelay();
    if (backoff_.worthLogging())
        logf(LogLevel::Warning, "Listener '{}': no connection to {} ({} attempts): {}; retrying in {:.3f}s", name(),
             ops_.localName, backoff_.failures(), why, double(delay.count()) / 1e9);
    reconnectTimer_->arm(delay);
}

std::vector<StreamConnection *> StreamListener::snapshot() const
{
    std::vector<StreamConnection *> all;
    all.reserve(connections_.size());
    for (const auto &[id, connection] : connections_) all.push_back(connection.get());
    return all;
}

bool StreamListener::anyClientFull() const
{
    for (const auto &[id, connection] : connections_)
        if (connection->full()) return true;
    return false;
}

void StreamListener::drain()
{
    if (pairTarget_ || ops_.onDemand) return;  // per_connection listeners move bytes pair to pair
    bool anyoneToSendTo = false;
    for (const auto &[id, connection] : connections_) anyoneToSendTo |= connection->connected();
    if (!anyoneToSendTo) return;  // queued until a client or the connection is there
    while (!anyClientFull()) {
        MessagePtr message = nextInput();
        if (!message) break;
        bool carried = true;
        for (auto &[id, connection] : connections_)
            if (connection->connected() && !connection->send(*message)) carried = false;
        if (carried)
            counters().countOut(message->size());
        else
            countUnencodable(*message);
    }
    // Writing may close a connection, which leaves connections_: walk a snapshot. Closed ones
    // stay allocated until the next iteration.
    for (StreamConnection *connection : snapshot()) connection->flush();
}

void StreamListener::countUnencodable(const Message &message)
{
    logf(warnedUnencodable_ ? LogLevel::Debug : LogLevel::Warning,
         "Listener '{}': dropping a {} message from '{}' that format '{}' cannot carry", name(),
         messageKindName(message.kind), message.source, format_.name);
    warnedUnencodable_ = true;
    ++counters().errors;
}

bool StreamListener::flushed() const
{
    for (const auto &[id, connection] : connections_)
        if (connection->buffered() > 0 && !connection->closed()) return false;
    return true;
}

void StreamListener::stopReading()
{
    stopped_ = true;
    acceptPause_.cancel();
    listenWatch_.reset();
    listenFd_.reset();
    for (StreamConnection *connection : snapshot()) connection->stopReading();
}

void StreamListener::resumeReading()
{
    reading_ = true;
    for (auto &[id, connection] : connections_) connection->resumeReading();
}

// per_connection: a pair of connections moving messages both ways, each pausing the other's
// reads while its own write buffer is full.
namespace {
struct PairLink {
    StreamConnection *accepted = nullptr;
    StreamConnection *outgoing = nullptr;
    StreamConnection *partnerOf(StreamConnection &c) const { return &c == accepted ? outgoing : accepted; }
};

void forward(StreamConnection &from, StreamConnection *to, std::vector<Payload> &payloads, MessageKind kind,
             uint16_t linkType, Counters &in, Counters &out)
{
    if (!to || to->closed()) return;
    for (auto &payload : payloads) {
        Message message;
        message.kind = kind;
        message.linkType = linkType;
        message.data = std::move(payload);
        message.timestampNs = realtimeNowNs();
        message.peer = from.peer();
        in.countIn(message.size());
        if (auto encoded = to->send(message))
            out.countOut(*encoded);
        else
            ++out.errors;  // the target's format cannot carry it
    }
    to->flush();
    if (to->full()) from.pauseReading();
}
}  // namespace

void StreamListener::pairEachClientWith(StreamListener &target) { pairTarget_ = &target; }

StreamConnection *StreamListener::openOnDemand(StreamConnection::Handlers handlers)
{
    int error = 0;
    UniqueFd fd = ops_.startConnect(error);
    if (!fd) {
        logf(LogLevel::Warning, LogFields{.listener = name(), .peer = ops_.localName, .reason = "connect failed"},
             "Listener '{}': failed to connect to {}: {}", name(), ops_.localName,
             std::strerror(error));
        ++counters().errors;
        return nullptr;
    }
    ops_.configure(fd.get());
    auto onClosed = std::move(handlers.onClosed);
    handlers.onClosed = [this, onClosed](StreamConnection &connection, const std::string &reason) {
        if (!reason.empty()) ++counters().errors;
        onClosed(connection, reason);
        forget(connection);
    };
    return &adopt(std::move(fd), ops_.localName, true, std::move(handlers));
}

void StreamListener::acceptPaired(UniqueFd fd, std::string peer)
{
    auto link = std::make_shared<PairLink>();
    StreamListener &target = *pairTarget_;
    auto handlersFor = [this, link, &target](bool accepted) {
        Counters &mine = accepted ? counters() : target.counters();
        Counters &theirs = accepted ? target.counters() : counters();
        StreamConnection::Handlers h;
        h.onMessages = [link, &mine, &theirs, this](StreamConnection &c, std::vector<Payload> &payloads) {
            forward(c, link->partnerOf(c), payloads, kind_, format_.linkType, mine, theirs);
        };
        h.mayRead = [link, this, accepted]() {
            StreamConnection *partner = accepted ? link->outgoing : link->accepted;
            return !stopped_ && partner && !partner->full();
        };
        h.onEndOfInput = [link](StreamConnection &c) {
            if (StreamConnection *partner = link->partnerOf(c)) partner->shutdownWriteWhenDrained();
        };
        h.onSpliced = [&mine, &theirs](StreamConnection &, size_t bytes) {
            mine.countIn(bytes);
            theirs.countOut(bytes);
        };
        h.onWritable = [link](StreamConnection &c) {
            if (StreamConnection *partner = link->partnerOf(c)) partner->resumeReading();
        };
        h.onConnected = [&target](StreamConnection &c) {
            ++target.counters().connects;
            logf(LogLevel::Debug, "Listener '{}': connected to {}", target.name(), c.peer());
        };
        h.onClosed = [link, this, accepted](StreamConnection &c, const std::string &reason) {
            if (!reason.empty())
                logf(LogLevel::Warning,
                     LogFields{.listener = accepted ? name() : pairTarget_->name(), .peer = c.peer(),
                               .reason = "closing a client"},
                     "Listener '{}': closing {}: {}", accepted ? name() : pairTarget_->name(), shown(c.peer()), reason);
            StreamConnection *partner = link->partnerOf(c);
            (accepted ? link->accepted : link->outgoing) = nullptr;
            if (partner) partner->closeWhenDrained();
            if (accepted) forget(c);
        };
        return h;
    };
    StreamConnection &client = adopt(std::move(fd), std::move(peer), false, handlersFor(true));
    link->accepted = &client;
    link->outgoing = target.openOnDemand(handlersFor(false));
    if (!link->outgoing) {
        client.close(fmt::format("cannot connect to {}", target.describe()));
        return;
    }
    // Raw on both sides: the kernel moves the bytes (splice), user space never copies them.
    client.spliceTo(*link->outgoing);
    link->outgoing->spliceTo(client);
}

}  // namespace sockbridge
