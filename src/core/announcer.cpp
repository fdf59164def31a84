// SPDX-License-Identifier: MIT
// Announcer: one UDP socket with SO_BROADCAST, connected to the beacon's destination.
#include "core/announcer.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace sockbridge {

namespace {

bool isWildcard(const SocketAddress &address)
{
    if (address.family() == AF_INET)
        return reinterpret_cast<const sockaddr_in *>(address.get())->sin_addr.s_addr == htonl(INADDR_ANY);
    if (address.family() == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6 *>(address.get())->sin6_addr);
    return false;
}

}  // namespace

Announcer::Announcer(EventLoop &loop, std::string listener, SocketAddress to, std::chrono::milliseconds interval,
                     SocketAddress listening, Text text)
    : listener_(std::move(listener)), to_(to), listening_(listening), interval_(interval), text_(std::move(text)),
      timer_(loop.makeTimer([this] { announce(); }))
{
    announce();
}

// A board often starts before its network: a destination without a route is tried again on every
// beat instead of failing the listener.
bool Announcer::connectSocket()
{
    if (fd_) return true;
    UniqueFd fd(::socket(to_.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        const int error = errno;
        complain("open the beacon socket", error);
        return false;
    }
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
    if (::connect(fd.get(), to_.get(), to_.length) < 0) {
        const int error = errno;
        complain(fmt::format("reach {}", to_.toString()), error);
        return false;
    }
    fd_ = std::move(fd);
    return true;
}

SocketAddress Announcer::server() const
{
    if (!isWildcard(listening_)) return listening_;
    SocketAddress self;
    self.length = sizeof(self.storage);
    if (getsockname(fd_.get(), self.get(), &self.length) < 0) return listening_;
    // The beacon's own source address, with the server's port.
    if (self.family() == AF_INET)
        reinterpret_cast<sockaddr_in *>(self.get())->sin_port = htons(listening_.port());
    else if (self.family() == AF_INET6)
        reinterpret_cast<sockaddr_in6 *>(self.get())->sin6_port = htons(listening_.port());
    return self;
}

void Announcer::announce()
{
    timer_->arm(interval_);
    if (!connectSocket()) return;
    const std::string datagram = text_(server());
    if (::send(fd_.get(), datagram.data(), datagram.size(), 0) < 0) {
        const int error = errno;
        complain(fmt::format("send the beacon to {}", to_.toString()), error);
        // The route may have changed (an interface went away): connect afresh next time.
        if (error != EAGAIN && error != ENOBUFS) fd_ = UniqueFd();
        return;
    }
    ++sent_;
    if (lastError_) logf(LogLevel::Notice, "Listener '{}': beacon to {} sent again", listener_, to_.toString());
    lastError_ = 0;
}

void Announcer::complain(std::string_view what, int error)
{
    ++failed_;
    if (error != lastError_)
        logf(LogLevel::Warning, "Listener '{}': failed to {}: {} (trying again every {} ms)", listener_, what,
             std::strerror(error), interval_.count());
    lastError_ = error;
}

}  // namespace sockbridge
