// SPDX-License-Identifier: MIT
// RawListener: `type: raw` — an IP raw socket for one protocol. Every message it emits is a whole
// IP packet (pcap LINKTYPE_RAW): IPv4 raw sockets deliver the IP header; IPv6 raw sockets deliver
// only the payload, so the listener rebuilds a 40-byte IPv6 header from the ancillary data.
#include "listeners/raw_listener.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "core/listener.h"
#include "core/log.h"
#include "core/unique_fd.h"
#include "formats/packet_summary_format.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36  // Linux 4.5+; glibc headers may lack it
#endif

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"family", "ipv4|ipv6", "ipv4", "the IP version of the socket"},
    {"protocol", "name or number", "(required)", "the IP protocol: icmp, icmpv6, igmp, gre, esp, ah, sctp, 253, ..."},
    {"bind", "IP", "", "receive only packets to this local address, and send from it"},
    {"peer", "IP", "", "send every message to this address (else to the last sender)"},
    {"header_included", "bool", "false", "messages sent carry their own IP header (IP_HDRINCL / IPV6_HDRINCL)"},
};

constexpr std::string_view kFamilies[] = {"ipv4", "ipv6"};
constexpr size_t kBatch = 32;
constexpr size_t kPacketMax = 65535 + 40;

struct ProtocolName {
    std::string_view name;
    int number;
};
// Looked up here first: /etc/protocols (netbase) is not on every system.
constexpr ProtocolName kProtocols[] = {
    {"icmp", 1}, {"igmp", 2},   {"ipip", 4},   {"tcp", 6},     {"udp", 17},   {"ipv6", 41},   {"gre", 47},
    {"esp", 50}, {"ah", 51},    {"icmpv6", 58}, {"ipv6-icmp", 58}, {"ospf", 89}, {"pim", 103}, {"vrrp", 112},
    {"l2tp", 115}, {"sctp", 132}, {"udplite", 136}, {"raw", 255},
};

class RawListenerSpec final : public ListenerSpec {
public:
    int family = AF_INET;
    int protocol = 0;
    std::string protocolText;
    std::optional<SocketAddress> bind;
    std::optional<SocketAddress> peer;
    bool headerIncluded = false;

    Transport transport() const override { return Transport::Datagram; }
    bool needsRawSockets() const override { return true; }
    std::unique_ptr<Listener> create(EventLoop &loop) const override;
};

class RawListener final : public Listener {
public:
    RawListener(std::string name, EventLoop &loop, const RawListenerSpec &spec)
        : Listener(std::move(name), loop), spec_(spec)
    {
    }

    void start() override;
    void stopReading() override;
    void resumeReading() override
    {
        reading_ = true;
        updateEvents();
    }
    std::string describe() const override;

protected:
    void drain() override;
    bool flushed() const override { return pending_.empty(); }

private:
    [[noreturn]] void fail(std::string_view verb) const;
    void receive();
    void sendPending();
    void updateEvents();
    // The bytes to send for a message, and where; false when it cannot be sent.
    bool prepare(const Message &message, std::vector<uint8_t> &bytes, SocketAddress &to);
    std::string interfaceName(int ifindex);

    RawListenerSpec spec_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    std::vector<uint8_t> buffers_;
    std::optional<SocketAddress> lastSender_;
    struct Outgoing {
        std::vector<uint8_t> bytes;
        SocketAddress to;
    };
    std::deque<Outgoing> pending_;
    std::unordered_map<int, std::string> names_;
    bool reading_ = true;
    bool stopped_ = false;
    bool finalRead_ = false;
    bool warnedSend_ = false;
};

const char *familyName(int family) { return family == AF_INET6 ? "ipv6" : "ipv4"; }

void RawListener::fail(std::string_view verb) const
{
    throw StartupError(fmt::format("Listener '{}': failed to {} ({} protocol {}): {}", name(), verb,
                                   familyName(spec_.family), spec_.protocolText, std::strerror(errno)));
}

void RawListener::start()
{
    fd_.reset(::socket(spec_.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, spec_.protocol));
    if (!fd_) {
        if (errno == EPERM || errno == EACCES)
            throw StartupError(fmt::format("Listener '{}': needs CAP_NET_RAW to open a raw socket (run as root or "
                                           "grant the capability)",
                                           name()));
        fail("open a raw socket");
    }
    int on = 1;
    if (spec_.family == AF_INET) {
        if (setsockopt(fd_.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0) fail("set IP_PKTINFO");
        if (spec_.headerIncluded && setsockopt(fd_.get(), IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) < 0)
            fail("set IP_HDRINCL");
    } else {
        // What the rebuilt IPv6 header needs: destination, interface, hop limit, traffic class.
        if (setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) < 0 ||
            setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof(on)) < 0 ||
            setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof(on)) < 0)
            fail("ask for IPv6 packet information");
        if (spec_.headerIncluded && setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_HDRINCL, &on, sizeof(on)) < 0)
            fail("set IPV6_HDRINCL");
    }
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) fail("set SO_TIMESTAMPNS");
    if (spec_.bind && ::bind(fd_.get(), spec_.bind->get(), spec_.bind->length) < 0)
        fail(fmt::format("bind {}", spec_.bind->toString()));
    watch_ = loop().watchIo(fd_.get(), kReadable, [this](uint32_t events) {
        if (events & (kReadable | kError)) receive();
        if (events & kWritable) sendPending();
    });
    logf(LogLevel::Info, "Listener '{}' on {}", name(), describe());
}

std::string RawListener::describe() const
{
    std::string text = fmt::format("raw {} protocol {}", familyName(spec_.family), spec_.protocolText);
    if (spec_.bind) text += fmt::format(" at {}", spec_.bind->toString());
    if (spec_.peer) text += fmt::format(" → {}", spec_.peer->toString());
    if (spec_.headerIncluded) text += " (header included)";
    return text;
}

// "192.0.2.1" or "2001:db8::1": a raw socket's address has no port.
std::string addressText(const sockaddr_storage &address)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (address.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in &>(address).sin_addr, text, sizeof(text));
    else if (address.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 &>(address).sin6_addr, text, sizeof(text));
    return text;
}

void RawListener::receive()
{
    const size_t slot = kPacketMax;
    if (buffers_.empty()) buffers_.resize(kBatch * slot);
    mmsghdr headers[kBatch];
    iovec iovs[kBatch];
    sockaddr_storage addresses[kBatch];
    alignas(cmsghdr) uint8_t controls[kBatch][256];
    const int rounds = finalRead_ ? 1024 : 8;
    for (int round = 0; round < rounds && (finalRead_ || (reading_ && !stopped_)); ++round) {
        if (!finalRead_ && !mayRead()) {
            reading_ = false;
            updateEvents();
            return;
        }
        // IPv6: the payload goes after 40 bytes kept free for the rebuilt header.
        const size_t headroom = spec_.family == AF_INET6 ? 40 : 0;
        for (size_t i = 0; i < kBatch; ++i) {
            iovs[i] = {buffers_.data() + i * slot + headroom, slot - headroom};
            headers[i] = {};
            headers[i].msg_hdr.msg_name = &addresses[i];
            headers[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_control = controls[i];
            headers[i].msg_hdr.msg_controllen = sizeof(controls[i]);
        }
        int n = ::recvmmsg(fd_.get(), headers, kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            logf(LogLevel::Debug, "Listener '{}': receive error: {}", name(), std::strerror(errno));
            ++counters().errors;
            return;
        }
        for (int i = 0; i < n; ++i) {
            msghdr &header = headers[i].msg_hdr;
            Message message;
            message.kind = MessageKind::Packet;
            message.linkType = kLinkTypeRaw;
            int hopLimit = 64, trafficClass = 0;
            in6_addr destination{};
            for (cmsghdr *c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    timespec ts;
                    std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    message.timestampNs = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
                } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                    in_pktinfo info;
                    std::memcpy(&info, CMSG_DATA(c), sizeof(info));
                    message.ifindex = info.ipi_ifindex;
                } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                    in6_pktinfo info;
                    std::memcpy(&info, CMSG_DATA(c), sizeof(info));
                    message.ifindex = int32_t(info.ipi6_ifindex);
                    destination = info.ipi6_addr;
                } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
                    std::memcpy(&hopLimit, CMSG_DATA(c), sizeof(hopLimit));
                } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
                    std::memcpy(&trafficClass, CMSG_DATA(c), sizeof(trafficClass));
                }
            }
            if (!message.timestampNs) message.timestampNs = realtimeNowNs();
            if (header.msg_flags & MSG_TRUNC) {
                ++counters().errors;
                continue;
            }
            SocketAddress from;
            std::memcpy(&from.storage, &addresses[i], header.msg_namelen);
            from.length = header.msg_namelen;
            lastSender_ = from;
            // As for packet listeners, the peer of a packet is the interface it came in on: its
            // addresses are in the packet itself.
            message.peer = interfaceName(message.ifindex);
            uint8_t *payload = static_cast<uint8_t *>(iovs[i].iov_base);
            const size_t size = headers[i].msg_len;
            if (spec_.family == AF_INET6) {
                // Version 6, traffic class, flow label 0 (not reported), payload length, next
                // header, hop limit, source, destination. Extension headers were consumed by the
                // kernel and are not rebuilt.
                uint8_t *ip = payload - 40;
                ip[0] = uint8_t(0x60 | (trafficClass >> 4));
                ip[1] = uint8_t((trafficClass & 0x0f) << 4);
                ip[2] = ip[3] = 0;
                ip[4] = uint8_t(size >> 8);
                ip[5] = uint8_t(size);
                ip[6] = uint8_t(spec_.protocol);
                ip[7] = uint8_t(hopLimit);
                std::memcpy(ip + 8, &reinterpret_cast<const sockaddr_in6 &>(addresses[i]).sin6_addr, 16);
                std::memcpy(ip + 24, &destination, 16);
                message.data.assign(ip, payload + size);
            } else {
                message.data.assign(payload, payload + size);
            }
            message.wireLength = uint32_t(message.data.size());
            emit(std::move(message));
        }
        if (size_t(n) < kBatch) return;
    }
}

std::string RawListener::interfaceName(int ifindex)
{
    if (!ifindex) return {};
    auto it = names_.find(ifindex);
    if (it != names_.end()) return it->second;
    char name[IF_NAMESIZE] = "";
    std::string text = if_indextoname(unsigned(ifindex), name) ? name : fmt::format("if{}", ifindex);
    if (names_.size() > 1024) names_.clear();
    return names_.emplace(ifindex, std::move(text)).first->second;
}

bool RawListener::prepare(const Message &message, std::vector<uint8_t> &bytes, SocketAddress &to)
{
    auto refuse = [&](const std::string &why) {
        if (!warnedSend_)
            logf(LogLevel::Warning, "Listener '{}': dropping messages: {} (counted as errors, further ones not logged)",
                 name(), why);
        warnedSend_ = true;
        return false;
    };
    std::span<const uint8_t> data(message.data);
    if (message.linkType != 0 && message.linkType != kLinkTypeRaw)
        return refuse(fmt::format("link type {} cannot go out of an IP raw socket", message.linkType));
    const int version = data.empty() ? 0 : data[0] >> 4;
    const int wanted = spec_.family == AF_INET6 ? 6 : 4;
    // A whole IP packet (from a raw or cooked capture) loses its header unless header_included:
    // the kernel writes a new one towards the peer.
    if (message.linkType == kLinkTypeRaw && !spec_.headerIncluded) {
        const size_t length = version == 4 && data.size() >= 20 ? size_t(data[0] & 0x0f) * 4
                              : version == 6 && data.size() >= 40 ? 40 : 0;
        if (!length || length > data.size()) return refuse("a packet without a whole IP header");
        data = data.subspan(length);
    }
    if (spec_.peer) {
        to = *spec_.peer;
    } else if (spec_.headerIncluded) {
        if (version != wanted || data.size() < (wanted == 4 ? 20u : 40u))
            return refuse(fmt::format("a message that is not an IPv{} packet (header_included)", wanted));
        to = {};
        if (wanted == 4) {
            auto &sin = reinterpret_cast<sockaddr_in &>(to.storage);
            sin.sin_family = AF_INET;
            std::memcpy(&sin.sin_addr, data.data() + 16, 4);
            to.length = sizeof(sin);
        } else {
            auto &sin6 = reinterpret_cast<sockaddr_in6 &>(to.storage);
            sin6.sin6_family = AF_INET6;
            std::memcpy(&sin6.sin6_addr, data.data() + 24, 16);
            to.length = sizeof(sin6);
        }
    } else if (lastSender_) {
        to = *lastSender_;
    } else {
        return refuse("no 'peer' and nothing received yet to reply to");
    }
    bytes.assign(data.begin(), data.end());
    return true;
}

void RawListener::drain()
{
    while (pending_.size() < kBatch) {
        MessagePtr message = nextInput();
        if (!message) break;
        Outgoing out;
        if (!prepare(*message, out.bytes, out.to)) {
            ++counters().errors;
            continue;
        }
        counters().countOut(message->size());
        pending_.push_back(std::move(out));
    }
    sendPending();
}

void RawListener::sendPending()
{
    while (!pending_.empty()) {
        mmsghdr headers[kBatch];
        iovec iovs[kBatch];
        const size_t count = std::min(pending_.size(), kBatch);
        for (size_t i = 0; i < count; ++i) {
            Outgoing &out = pending_[i];
            iovs[i] = {out.bytes.data(), out.bytes.size()};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_name = out.to.get();
            headers[i].msg_hdr.msg_namelen = out.to.length;
        }
        int n = ::sendmmsg(fd_.get(), headers, unsigned(count), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) break;
            logf(LogLevel::Debug, "Listener '{}': failed to send to {}: {}", name(), addressText(pending_.front().to.storage),
                 std::strerror(errno));
            ++counters().errors;
            pending_.pop_front();
            continue;
        }
        pending_.erase(pending_.begin(), pending_.begin() + n);
        if (pending_.empty() && hasInput()) drain();
    }
    updateEvents();
}

void RawListener::updateEvents()
{
    if (!watch_) return;
    uint32_t events = 0;
    if (reading_ && !stopped_) events |= kReadable;
    if (!pending_.empty()) events |= kWritable;
    watch_->setEvents(events);
}

void RawListener::stopReading()
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

std::unique_ptr<Listener> RawListenerSpec::create(EventLoop &loop) const
{
    return std::make_unique<RawListener>(name, loop, *this);
}

std::optional<SocketAddress> ipAddress(OptionReader &reader, std::string_view key, int family)
{
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    std::string why;
    auto address = parseIpLiteral(*text, why);
    if (!address) {
        reader.error(key, fmt::format("bad address '{}' for '{}': {}", *text, key, why));
        return std::nullopt;
    }
    if (address->family() != family) {
        reader.error(key, fmt::format("'{}' is {} but 'family' is {}", key, familyName(address->family()),
                                      familyName(family)));
        return std::nullopt;
    }
    return address;
}

}  // namespace

std::optional<int> ipProtocolNumber(std::string_view text)
{
    int number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc() && end == text.data() + text.size()) {
        if (number < 0 || number > 255) return std::nullopt;
        return number;
    }
    for (const auto &protocol : kProtocols)
        if (protocol.name == text) return protocol.number;
    protoent entry{}, *found = nullptr;
    char buffer[1024];
    if (getprotobyname_r(std::string(text).c_str(), &entry, buffer, sizeof(buffer), &found) == 0 && found)
        return found->p_proto;
    return std::nullopt;
}

std::span<const KeySpec> rawListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parseRawListener(OptionReader &reader)
{
    auto spec = std::make_unique<RawListenerSpec>();
    if (auto format = reader.string("format"); format && *format != "raw")
        reader.error("format", "a raw listener moves whole packets: 'format' must be raw (write summaries with a "
                               "log of format packet-jsonl)");
    if (auto family = reader.choice("family", kFamilies)) spec->family = *family == "ipv6" ? AF_INET6 : AF_INET;
    auto protocol = reader.string("protocol");
    if (!protocol) {
        if (!reader.has("protocol"))
            reader.errors().add(reader.map(), "a raw listener needs 'protocol: NAME or NUMBER' (icmp, gre, 253, ...)");
        return nullptr;
    }
    auto number = ipProtocolNumber(*protocol);
    if (!number) {
        reader.error("protocol", fmt::format("unknown IP protocol '{}' (a name such as icmp, icmpv6, gre, or a "
                                             "number 1-255)", *protocol));
        return nullptr;
    }
    if (*number == 0) {
        reader.error("protocol", "protocol 0 cannot be opened as a raw socket: name a protocol (1-255)");
        return nullptr;
    }
    if (spec->family == AF_INET6 && *number == 1)
        reader.error("protocol", "protocol 'icmp' is ICMP for IPv4: use 'icmpv6' with 'family: ipv6'");
    if (spec->family == AF_INET && *number == 58)
        reader.error("protocol", "protocol 'icmpv6' needs 'family: ipv6'");
    spec->protocol = *number;
    spec->protocolText = *protocol;
    spec->bind = ipAddress(reader, "bind", spec->family);
    spec->peer = ipAddress(reader, "peer", spec->family);
    spec->headerIncluded = reader.boolean("header_included").value_or(false) || *number == IPPROTO_RAW;
    return spec;
}

}  // namespace sockbridge
