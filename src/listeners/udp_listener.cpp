// SPDX-License-Identifier: MIT
// UdpListener: `type: udp` — bind, a fixed peer or the last sender; multicast groups and broadcast.
#include "listeners/udp_listener.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "core/allow_list.h"
#include "core/datagram_listener.h"
#include "core/log.h"
#include "core/socket_buffer.h"

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"bind", "HOST:PORT", "", "receive on this local address; optional with 'peer' (then an ephemeral port)"},
    {"peer", "HOST:PORT", "", "send every message here; datagrams from whoever reaches the socket are still received"},
    {"reply", "last-sender|none", "last-sender", "without 'peer': send to whoever sent last, or send nothing"},
    {"multicast", "map", "", "{group, interface, ttl: 1, loop: true}: join 'group' on 'bind'; options for sending"},
    {"broadcast", "bool", "false", "SO_BROADCAST: allow sending to a broadcast address (IPv4)"},
    {"reuse_port", "bool", "false (true for multicast receivers)", "SO_REUSEADDR and SO_REUSEPORT on 'bind'"},
    {"receive_buffer", "size", "the kernel's (net.core.rmem_default)",
     "SO_RCVBUF(FORCE): room for bursts before the kernel drops datagrams; raise it for high rates"},
    {"send_buffer", "size", "the kernel's (net.core.wmem_default)", "SO_SNDBUF(FORCE)"},
    {"allow", "list of CIDR", "everyone", "only datagrams from these blocks are read; others are dropped and counted in 'refused'"},
};

constexpr std::string_view kMulticastKeys[] = {"group", "interface", "ttl", "loop"};
constexpr std::string_view kReplyChoices[] = {"last-sender", "none"};

struct Multicast {
    std::optional<SocketAddress> group;  // joined when the listener binds the group's port
    YAML::Mark groupMark;
    unsigned interfaceIndex = 0;  // 0: the kernel picks by route
    std::string interfaceName;
    int ttl = 1;
    bool loop = true;
};

class UdpListenerSpec final : public ListenerSpec {
public:
    SocketAddress local;  // the bind address, or (port 0) loopback for a local peer, else the wildcard
    std::optional<SocketAddress> peer;
    bool replyToLastSender = true;
    std::optional<Multicast> multicast;
    bool broadcast = false;
    bool reusePort = false;
    int receiveBuffer = 0;  // 0: the kernel's default
    int sendBuffer = 0;
    bool joinsGroup = false;  // a multicast receiver: bound to the group's port
    bool bindsExplicitly = false;  // 'bind' given: a startup warning when it is open to other hosts
    AllowList allow;

    Transport transport() const override { return Transport::Datagram; }
    std::unique_ptr<Listener> create(EventLoop &loop) const override;
};

const char *familyName(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

SocketAddress wildcardOf(int family)
{
    SocketAddress any;
    if (family == AF_INET6) {
        auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&any.storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_any;
        any.length = sizeof(sockaddr_in6);
    } else {
        auto *sin = reinterpret_cast<sockaddr_in *>(&any.storage);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        any.length = sizeof(sockaddr_in);
    }
    return any;
}

SocketAddress loopbackOf(int family)
{
    SocketAddress local = wildcardOf(family);
    if (family == AF_INET6)
        reinterpret_cast<sockaddr_in6 *>(&local.storage)->sin6_addr = in6addr_loopback;
    else
        reinterpret_cast<sockaddr_in *>(&local.storage)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return local;
}

bool isLimitedBroadcast(const SocketAddress &address)
{
    return address.family() == AF_INET &&
           reinterpret_cast<const sockaddr_in *>(&address.storage)->sin_addr.s_addr == htonl(INADDR_BROADCAST);
}

// The group without its port: "239.255.0.1", "ff02::1".
std::string groupText(const SocketAddress &group)
{
    char text[INET6_ADDRSTRLEN] = "";
    const void *raw = group.family() == AF_INET
                          ? static_cast<const void *>(&reinterpret_cast<const sockaddr_in *>(&group.storage)->sin_addr)
                          : static_cast<const void *>(&reinterpret_cast<const sockaddr_in6 *>(&group.storage)->sin6_addr);
    inet_ntop(group.family(), raw, text, sizeof(text));
    return text;
}

// False when the kernel refused; errno says why.
bool joinGroup(int fd, const Multicast &multicast)
{
    const SocketAddress &group = *multicast.group;
    if (group.family() == AF_INET) {
        ip_mreqn request{};
        request.imr_multiaddr = reinterpret_cast<const sockaddr_in *>(&group.storage)->sin_addr;
        request.imr_ifindex = int(multicast.interfaceIndex);
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request)) < 0) return false;
        // A socket bound to the wildcard would otherwise also get groups other sockets joined.
        int off = 0;
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof(off));
        return true;
    }
    ipv6_mreq request{};
    request.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6 *>(&group.storage)->sin6_addr;
    request.ipv6mr_interface = multicast.interfaceIndex;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &request, sizeof(request)) < 0) return false;
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &off, sizeof(off));  // Linux 4.20+; best effort
    return true;
}

// For sending to a group. Returns the option the kernel refused (errno says why), or nullptr.
const char *setSendOptions(int fd, int family, const Multicast &multicast)
{
    int loop = multicast.loop ? 1 : 0;
    if (family == AF_INET) {
        ip_mreqn request{};
        request.imr_ifindex = int(multicast.interfaceIndex);
        if (multicast.interfaceIndex &&
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof(request)) < 0)
            return "IP_MULTICAST_IF";
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &multicast.ttl, sizeof(multicast.ttl)) < 0)
            return "IP_MULTICAST_TTL";
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0) return "IP_MULTICAST_LOOP";
        return nullptr;
    }
    int index = int(multicast.interfaceIndex);
    if (index && setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof(index)) < 0)
        return "IPV6_MULTICAST_IF";
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &multicast.ttl, sizeof(multicast.ttl)) < 0)
        return "IPV6_MULTICAST_HOPS";
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop)) < 0) return "IPV6_MULTICAST_LOOP";
    return nullptr;
}

std::unique_ptr<Listener> UdpListenerSpec::create(EventLoop &loop) const
{
    DatagramSocketOps ops;
    ops.peer = peer;
    ops.replyToLastSender = replyToLastSender;
    ops.localName = local.toString();
    ops.allow = allow;
    ops.open = [limited = allow.configured() || !bindsExplicitly, local = local, multicast = multicast, broadcast = broadcast, reusePort = reusePort,
                joinsGroup = joinsGroup, listenerName = name, receiveBuffer = receiveBuffer,
                sendBuffer = sendBuffer]() {
        auto fail = [&](std::string_view verb, const std::string &what, std::string_view hint = {}) {
            throw StartupError(fmt::format("Failed to {} '{}' for listener '{}': {}{}", verb, what, listenerName,
                                           std::strerror(errno), hint));
        };
        UniqueFd fd(::socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) fail("bind", local.toString());
        int on = 1;
        if (reusePort &&
            (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
             setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0))
            fail("set SO_REUSEPORT on", local.toString());
        if (broadcast && setsockopt(fd.get(), SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)) < 0)
            fail("set SO_BROADCAST on", local.toString());
        if (receiveBuffer && !setReceiveBuffer(fd.get(), receiveBuffer))
            fail("set the receive buffer of", local.toString());
        if (sendBuffer && !setSendBuffer(fd.get(), sendBuffer))
            fail("set the send buffer of", local.toString());
        if (::bind(fd.get(), local.get(), local.length) < 0) fail("bind", local.toString());
        warnWhenExposed(listenerName, local, limited);
        if (multicast) {
            if (const char *option = setSendOptions(fd.get(), local.family(), *multicast))
                fail(fmt::format("set {} for", option), multicast->interfaceName.empty()
                                                            ? local.toString()
                                                            : multicast->interfaceName);
            // ENODEV: no interface named and no route to the group to pick one by.
            if (joinsGroup && !joinGroup(fd.get(), *multicast))
                fail("join multicast group", groupText(*multicast->group),
                     errno == ENODEV && !multicast->interfaceIndex
                         ? " (name one with 'interface' or add a route for the group)"
                         : "");
        }
        if (local.port() == 0) {
            // Log the port the kernel chose: it is where a peer's replies must come.
            SocketAddress actual;
            actual.length = sizeof(actual.storage);
            if (getsockname(fd.get(), actual.get(), &actual.length) == 0)
                logf(LogLevel::Info, "Listener '{}': bound to {} (an ephemeral port)", listenerName,
                     actual.toString());
        }
        return fd;
    };
    return std::make_unique<DatagramListener>(name, loop, *format, formatOptions, std::move(ops));
}

std::optional<Multicast> parseMulticast(OptionReader &reader)
{
    YAML::Node node = reader.node("multicast");
    if (!node.IsDefined()) return std::nullopt;
    if (!node.IsMap()) {
        reader.error("multicast", "'multicast' must be a map {group, interface, ttl, loop}");
        return std::nullopt;
    }
    OptionReader options(node, reader.errors(), "multicast");
    options.reportUnknownKeys(kMulticastKeys);
    Multicast multicast;
    if (auto text = options.string("group")) {
        std::string why;
        multicast.group = parseIpLiteral(*text, why);
        multicast.groupMark = options.markOf("group");
        if (!multicast.group)
            options.error("group", fmt::format("bad address '{}' for 'group': {}", *text, why));
        else if (!multicast.group->isMulticast())
            options.error("group", fmt::format("'{}' is not a multicast address (224.0.0.0/4 or ff00::/8)", *text));
    } else if (!options.has("group")) {
        reader.error("multicast", "'multicast' needs 'group: IP' (the group to join)");
    }
    if (auto name = options.string("interface")) {
        multicast.interfaceName = *name;
        multicast.interfaceIndex = if_nametoindex(name->c_str());
        if (!multicast.interfaceIndex) options.error("interface", fmt::format("unknown network interface '{}'", *name));
    } else if (multicast.group && multicast.group->family() == AF_INET6) {
        // "ff02::1%eth0": the scope names the interface.
        multicast.interfaceIndex = reinterpret_cast<const sockaddr_in6 *>(&multicast.group->storage)->sin6_scope_id;
    }
    if (auto ttl = options.integer("ttl", 0, 255)) multicast.ttl = int(*ttl);
    if (auto loop = options.boolean("loop")) multicast.loop = *loop;
    return multicast;
}

}  // namespace

std::span<const KeySpec> udpListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parseUdpListener(OptionReader &reader)
{
    auto spec = std::make_unique<UdpListenerSpec>();
    if (!reader.has("bind") && !reader.has("peer")) {
        reader.errors().add(reader.map(), "a udp listener needs 'bind: HOST:PORT', 'peer: HOST:PORT' or both");
        return nullptr;
    }
    auto bind = reader.inetAddress("bind");
    auto peer = reader.inetAddress("peer");
    if (reader.has("bind") && !bind) return nullptr;
    if (reader.has("peer") && !peer) return nullptr;
    if (peer && peer->port() == 0) reader.error("peer", "'peer' needs a port other than 0");
    if (bind && peer && bind->family() != peer->family())
        reader.error("peer", fmt::format("'peer' is {} but 'bind' is {}", familyName(peer->family()),
                                         familyName(bind->family())));
    // Without 'bind', a peer on this host gets a socket on loopback: nothing else can reach it.
    spec->local = bind ? *bind : peer && isLoopback(*peer) ? loopbackOf(peer->family()) : wildcardOf(peer->family());
    spec->bindsExplicitly = bool(bind);
    if (auto allow = reader.allowList("allow")) spec->allow = std::move(*allow);
    spec->peer = peer;

    if (reader.has("reply") && peer)
        reader.error("reply", "'reply' conflicts with 'peer': messages always go to the fixed peer");
    if (auto reply = reader.choice("reply", kReplyChoices)) spec->replyToLastSender = *reply == "last-sender";

    spec->multicast = parseMulticast(reader);
    if (spec->multicast && spec->multicast->group) {
        const SocketAddress &group = *spec->multicast->group;
        const SocketAddress &other = bind ? *bind : *peer;
        if (group.family() != other.family())
            reader.errors().add(spec->multicast->groupMark,
                                fmt::format("'group' is {} but '{}' is {}", familyName(group.family()),
                                            bind ? "bind" : "peer", familyName(other.family())));
        // A sender may bind port 0 (to pick its source address); a receiver needs the group's port.
        spec->joinsGroup = bind && bind->port() != 0;
        bool sendsToGroup = peer && peer->isMulticast();
        if (!spec->joinsGroup && !sendsToGroup && bind)
            reader.error("bind", "'bind' needs the group's port, not 0, to receive multicast");
        else if (!spec->joinsGroup && !sendsToGroup)
            reader.error("multicast", "'multicast' needs 'bind' to receive the group or a multicast 'peer' to send to");
    }

    spec->broadcast = reader.boolean("broadcast").value_or(false);
    if (spec->broadcast && spec->local.family() == AF_INET6)
        reader.error("broadcast", "'broadcast' is IPv4 only: IPv6 has multicast instead");
    if (peer && isLimitedBroadcast(*peer) && !spec->broadcast)
        reader.error("peer", "sending to 255.255.255.255 needs 'broadcast: true'");

    // Two receivers of one group on one host must both bind the group's port.
    spec->reusePort = reader.boolean("reuse_port").value_or(spec->joinsGroup);
    if (auto bytes = reader.bufferSize("receive_buffer")) spec->receiveBuffer = *bytes;
    if (auto bytes = reader.bufferSize("send_buffer")) spec->sendBuffer = *bytes;
    return spec;
}

}  // namespace sockbridge
