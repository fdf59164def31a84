// SPDX-License-Identifier: MIT
// LinkMonitor: RTMGRP_LINK notifications (RTM_NEWLINK, RTM_DELLINK) dispatched by interface name.
#include "core/link_monitor.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "core/listener.h"
#include "core/log.h"
#include "core/socket_buffer.h"

namespace sockbridge {

namespace {

// NLMSG_OK, without its comparison of the u32 nlmsg_len with a signed length (clang's -Wsign-compare).
bool netlinkMessageFits(const nlmsghdr *header, int left)
{
    return left >= int(sizeof(nlmsghdr)) && header->nlmsg_len >= sizeof(nlmsghdr) && header->nlmsg_len <= unsigned(left);
}
std::map<EventLoop *, std::weak_ptr<LinkMonitor>> &monitors()
{
    static std::map<EventLoop *, std::weak_ptr<LinkMonitor>> byLoop;
    return byLoop;
}
}  // namespace

LinkMonitor::Subscription::~Subscription() { monitor_->unsubscribe(id_); }

std::shared_ptr<LinkMonitor> LinkMonitor::forLoop(EventLoop &loop)
{
    auto &byLoop = monitors();
    if (auto existing = byLoop[&loop].lock()) return existing;
    auto monitor = std::make_shared<LinkMonitor>(loop);
    monitor->self_ = monitor;
    byLoop[&loop] = monitor;
    return monitor;
}

/**
 * \brief Opens the rtnetlink socket and joins RTMGRP_LINK
 *
 * Every link change on the host then arrives on the loop; nothing polls.
 */
LinkMonitor::LinkMonitor(EventLoop &loop) : loop_(loop)
{
    fd_ = UniqueFd(::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
    sockaddr_nl address{};
    address.nl_family = AF_NETLINK;
    address.nl_groups = RTMGRP_LINK;
    if (!fd_ || ::bind(fd_.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0)
        throw StartupError(fmt::format("Failed to open rtnetlink to watch network interfaces: {}",
                                       std::strerror(errno)));
    (void)setReceiveBuffer(fd_.get(), 1 << 20);  // a smaller one still works
    buffer_.resize(32768);
    watch_ = loop_.watchIo(fd_.get(), kReadable, [this](uint32_t) { receive(); });
}

LinkMonitor::~LinkMonitor()
{
    auto &byLoop = monitors();
    if (auto it = byLoop.find(&loop_); it != byLoop.end() && it->second.expired()) byLoop.erase(it);
}

LinkState LinkMonitor::query(const std::string &name)
{
    LinkState state;
    state.name = name;
    state.ifindex = int(if_nametoindex(name.c_str()));
    if (!state.ifindex) return state;
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (fd && ioctl(fd.get(), SIOCGIFFLAGS, &request) == 0) state.up = request.ifr_flags & IFF_UP;
    if (fd && ioctl(fd.get(), SIOCGIFMTU, &request) == 0) state.mtu = unsigned(request.ifr_mtu);
    return state;
}

std::unique_ptr<LinkMonitor::Subscription> LinkMonitor::subscribe(const std::string &name, Callback callback,
                                                                  LinkState &now)
{
    uint64_t id = nextId_++;
    subscribers_[id] = {name, std::move(callback)};
    // Subscribed first, then asked: a change between the two arrives as an event.
    now = query(name);
    known_[name] = now;
    return std::make_unique<Subscription>(self_.lock(), id);
}

void LinkMonitor::unsubscribe(uint64_t id)
{
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return;
    std::string name = it->second.name;
    subscribers_.erase(it);
    for (const auto &[other, subscriber] : subscribers_)
        if (subscriber.name == name) return;
    known_.erase(name);
}

void LinkMonitor::receive()
{
    for (int round = 0; round < 64; ++round) {
        ssize_t n = ::recv(fd_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            if (errno == ENOBUFS) {
                // The kernel dropped notifications: ask again about every name we watch.
                logf(LogLevel::Notice, "Link monitor: rtnetlink overrun; checking interfaces again");
                resync();
                continue;
            }
            logf(LogLevel::Warning, "Link monitor: failed to read rtnetlink: {}", std::strerror(errno));
            return;
        }
        int left = int(n);
        for (auto *header = reinterpret_cast<nlmsghdr *>(buffer_.data()); netlinkMessageFits(header, left);
             header = NLMSG_NEXT(header, left)) {
            if (header->nlmsg_type != RTM_NEWLINK && header->nlmsg_type != RTM_DELLINK) continue;
            auto *info = static_cast<ifinfomsg *>(NLMSG_DATA(header));
            std::string name;
            unsigned mtu = 0;
            int attributesLength = int(IFLA_PAYLOAD(header));
            for (auto *attribute = IFLA_RTA(info); RTA_OK(attribute, attributesLength);
                 attribute = RTA_NEXT(attribute, attributesLength)) {
                if (attribute->rta_type == IFLA_IFNAME)
                    name = static_cast<const char *>(RTA_DATA(attribute));
                else if (attribute->rta_type == IFLA_MTU && RTA_PAYLOAD(attribute) >= sizeof(uint32_t))
                    std::memcpy(&mtu, RTA_DATA(attribute), sizeof(uint32_t));
            }
            handleLink(header->nlmsg_type == RTM_DELLINK, info->ifi_index, name, info->ifi_flags, mtu);
        }
    }
}

void LinkMonitor::handleLink(bool removed, int ifindex, const std::string &name, unsigned flags, unsigned mtu)
{
    // A name we watch that had this index and now has another name (renamed away) is gone.
    std::vector<LinkState> changes;
    for (const auto &[watched, state] : known_)
        if (state.ifindex == ifindex && watched != name) changes.push_back({watched, 0, false, 0});
    if (known_.count(name)) {
        LinkState state{name, ifindex, !removed && (flags & IFF_UP), mtu};
        if (removed) state = {name, 0, false, 0};
        changes.push_back(state);
    }
    for (const auto &state : changes) update(state);
}

void LinkMonitor::update(const LinkState &state)
{
    auto it = known_.find(state.name);
    if (it == known_.end() || it->second == state) return;
    it->second = state;
    // A callback may unsubscribe itself or others: call those still subscribed, by id.
    std::vector<uint64_t> ids;
    for (const auto &[id, subscriber] : subscribers_)
        if (subscriber.name == state.name) ids.push_back(id);
    for (uint64_t id : ids) {
        auto subscriber = subscribers_.find(id);
        if (subscriber == subscribers_.end()) continue;
        Callback callback = subscriber->second.callback;  // a copy: the callback may unsubscribe
        callback(state);
    }
}

void LinkMonitor::resync()
{
    std::vector<std::string> names;
    for (const auto &[name, state] : known_) names.push_back(name);
    for (const auto &name : names) update(query(name));
}

}  // namespace sockbridge
