// SPDX-License-Identifier: MIT
// StreamListener: the shared body of tcp and unix stream/seqpacket listeners (accept or connect).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/allow_list.h"
#include "core/announcer.h"
#include "core/backoff.h"
#include "core/accept_pause.h"
#include "core/listener.h"
#include "core/stream_connection.h"
#include "core/unique_fd.h"

namespace sockbridge {

// What a stream kind supplies: how to open its sockets and name its peers.
struct StreamSocketOps {
    // Bound and listening, non-blocking; throws StartupError.
    std::function<UniqueFd()> openListening;
    // A non-blocking socket with connect() started; sets errno-style `error` (0 or an errno) and
    // returns an invalid fd when the attempt failed at once.
    std::function<UniqueFd(int &error)> startConnect;
    // Socket options for an accepted or connected socket (TCP_NODELAY, keepalive).
    std::function<void(int fd)> configure;
    std::function<std::string(const sockaddr_storage &, socklen_t)> peerName;
    std::string localName;   // "127.0.0.1:7000" or "/run/x.sock": for logs
    bool connecting = false;  // connect out instead of accepting
    bool onDemand = false;    // connecting, but only for per_connection routes
    bool messageMode = false; // seqpacket: one read is one message
    unsigned maxClients = 64;
    Backoff backoff;
    AllowList allow;  // accepting: clients outside it are closed at once and counted in `refused`
    std::optional<TlsEndpoint> tls;  // `tls:`: every connection speaks TLS
};

class StreamListener : public Listener {
public:
    StreamListener(std::string name, EventLoop &loop, const FormatKind &format, const FormatOptions &options,
                   StreamSocketOps ops, MessageKind kind = MessageKind::Bytes);
    ~StreamListener() override;

    void start() override;
    void adoptSocket(UniqueFd fd) override;
    // The TLS setup of connections made from now on (a reload's freshly read certificates).
    void renewTls(std::optional<TlsEndpoint> tls) { ops_.tls = std::move(tls); }
    void stopReading() override;
    void resumeReading() override;
    std::string describe() const override;
    std::vector<std::string> peers() const override;

    // per_connection routes: each client accepted here gets its own connection from `target`.
    void pairEachClientWith(StreamListener &target);
    // Opens one outgoing connection for a per_connection route.
    StreamConnection *openOnDemand(StreamConnection::Handlers handlers);

protected:
    void drain() override;
    bool flushed() const override;

private:
    void acceptClients();
    void connectNow();
    void startAnnouncing();
    void closeResetClients();
    void scheduleReconnect(const std::string &why);
    StreamConnection &adopt(UniqueFd fd, std::string peer, bool connecting, StreamConnection::Handlers handlers);
    StreamConnection::Handlers routedHandlers();
    StreamConnection::Handlers pairedHandlers(StreamConnection *&partner);
    void acceptPaired(UniqueFd fd, std::string peer);
    void forget(StreamConnection &connection);
    bool anyClientFull() const;
    std::vector<StreamConnection *> snapshot() const;
    void countUnencodable(const Message &message);

    const FormatKind &format_;
    FormatOptions options_;
    StreamSocketOps ops_;
    MessageKind kind_;  // of decoded messages: the format's, else the socket's

    UniqueFd listenFd_;
    std::unique_ptr<Announcer> announcer_;  // the format's discovery beacon, when configured
    std::unique_ptr<IoWatch> listenWatch_;
    AcceptPause acceptPause_;  // out of descriptors: the watch waits
    std::map<uint64_t, std::unique_ptr<StreamConnection>> connections_;
    std::vector<std::unique_ptr<StreamConnection>> closing_;  // freed on the next iteration
    std::unique_ptr<Deferred> reap_;
    uint64_t nextId_ = 1;
    bool reading_ = true;
    bool stopped_ = false;

    StreamConnection *outgoing_ = nullptr;  // connecting mode: the one connection
    std::unique_ptr<Timer> reconnectTimer_;
    BackoffSchedule backoff_;
    bool everConnected_ = false;
    bool warnedUnencodable_ = false;

    StreamListener *pairTarget_ = nullptr;
};

}  // namespace sockbridge
