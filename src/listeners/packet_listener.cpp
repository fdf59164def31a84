// SPDX-License-Identifier: MIT
// PacketListener: `type: packet` — an AF_PACKET socket on one interface or all. Packets are read
// from a TPACKET_V3 ring (default) or with recvmmsg; the BPF filter runs in the kernel, so
// unwanted packets never reach user space. Routed frames can be injected on the interface.
#include "listeners/packet_listener.h"

#include <linux/if_ether.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "core/listener.h"
#include "core/log.h"
#include "core/unique_fd.h"
#include "formats/packet_summary_format.h"
#include "listeners/packet_ring.h"

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"interface", "string", "(required)", "the interface to capture on and inject into, or 'any' (capture only)"},
    {"mode", "raw|cooked", "raw (cooked for 'any')",
     "raw: whole link-layer frames (pcap link type Ethernet); cooked: from the network header, with a "
     "Linux cooked SLL2 header built from the socket address"},
    {"promiscuous", "bool", "false", "also capture frames addressed to other hosts (named interface only)"},
    {"direction", "in|out|both", "both", "in: received frames only (PACKET_IGNORE_OUTGOING); out: sent frames only"},
    {"snaplen", "size", "262144", "capture at most this many bytes of each packet; the length on the wire is kept"},
    {"filter", "string", "", "tcpdump filter syntax, compiled with libpcap and run in the kernel (SO_ATTACH_FILTER)"},
    {"ring", "bool or map", "{size: 8MiB, block_size: from snaplen, timeout: 10ms or 200ms}",
     "a memory-mapped TPACKET_V3 receive ring (size or blocks, block_size, frame_size, timeout); false reads "
     "with recvmmsg instead"},
    {"inject", "bool", "false", "send frames routed to this listener out of the interface (raw mode, named interface)"},
};

constexpr std::string_view kRingKeys[] = {"size", "block_size", "blocks", "frame_size", "timeout"};
constexpr std::string_view kModes[] = {"raw", "cooked"};
constexpr std::string_view kDirections[] = {"in", "out", "both"};
constexpr uint32_t kMaxSnaplen = 262144;
constexpr size_t kBatch = 32;

enum class Direction { In, Out, Both };

class PacketListenerSpec final : public ListenerSpec {
public:
    std::string interface;  // "any": every interface
    bool cooked = false;
    bool promiscuous = false;
    Direction direction = Direction::Both;
    uint32_t snaplen = kMaxSnaplen;
    std::string filterText;
    std::vector<sock_filter> filter;
    std::optional<RingSettings> ring = RingSettings{};
    RingGeometry geometry;  // of `ring`, settled once the routes are known
    bool inject = false;

    Transport transport() const override { return Transport::Datagram; }
    bool needsRawSockets() const override { return true; }
    std::unique_ptr<Listener> create(EventLoop &loop) const override;
    // The ring's timeout depends on where the packets go; a reload that changes it, or starts or
    // stops the capture, reopens the listener.
    void routesKnown() override
    {
        if (!routedFrom) {
            derived = "not capturing";
            return;
        }
        derived = "capturing";
        if (!ring) return;
        geometry = deriveRingGeometry(*ring, snaplen, uint32_t(sysconf(_SC_PAGESIZE)), routedToListener);
        derived += ", ring " + geometry.describe();
    }
    std::string refusesInput() const override
    {
        if (inject) return {};
        return fmt::format("packet listener '{}' does not send; set 'inject: true' on it to send routed frames "
                           "out of '{}'",
                           name, interface);
    }
};

// The mmap()ed ring, unmapped once.
class MappedRing {
public:
    MappedRing() = default;
    MappedRing(uint8_t *base, size_t size) : base_(base), size_(size) {}
    MappedRing(MappedRing &&other) noexcept
        : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    MappedRing &operator=(MappedRing &&other) noexcept
    {
        reset();
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
        return *this;
    }
    ~MappedRing() { reset(); }
    uint8_t *base() const { return base_; }
    explicit operator bool() const { return base_ != nullptr; }

private:
    void reset()
    {
        if (base_) ::munmap(base_, size_);
        base_ = nullptr;
    }
    uint8_t *base_ = nullptr;
    size_t size_ = 0;
};

class PacketListener final : public Listener {
public:
    PacketListener(std::string name, EventLoop &loop, const PacketListenerSpec &spec)
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
    void refreshCounters() override;

protected:
    void drain() override;
    bool flushed() const override { return pending_.empty() && !ringSettling_; }

private:
    [[noreturn]] void fail(std::string_view verb) const;
    void setupRing();
    void receive();
    void receiveRing();
    void receiveBatch();
    void handle(const uint8_t *data, size_t captured, uint32_t wireLength, const sockaddr_ll &from, int64_t timestampNs,
                uint32_t status, uint32_t vlanTci, uint16_t vlanTpid);
    const std::string &interfaceName(int ifindex);
    void sendPending();
    void updateEvents();
    bool mayRun() const { return finalRead_ || (reading_ && !stopped_); }

    PacketListenerSpec spec_;
    int ifindex_ = 0;
    size_t mtu_ = 0;  // of the interface injected on; larger TCP frames are segmented
    bool capturing_ = false;
    bool ignoresOutgoing_ = false;  // the kernel drops outgoing packets for us
    UniqueFd fd_;
    MappedRing ring_;
    std::unique_ptr<IoWatch> watch_;
    std::unique_ptr<Timer> settle_;
    size_t nextBlock_ = 0;
    std::vector<uint8_t> buffers_;
    std::unordered_map<int, std::string> names_;
    std::deque<MessagePtr> pending_;
    bool reading_ = true;
    bool stopped_ = false;
    bool finalRead_ = false;
    bool ringSettling_ = false;
    bool warnedLinkType_ = false;
};

void PacketListener::fail(std::string_view verb) const
{
    throw StartupError(fmt::format("Listener '{}': failed to {} on '{}': {}", name(), verb, spec_.interface,
                                   std::strerror(errno)));
}

void PacketListener::start()
{
    if (spec_.interface != "any") {
        ifindex_ = int(if_nametoindex(spec_.interface.c_str()));
        if (!ifindex_) throw StartupError(fmt::format("Listener '{}': no network interface '{}'", name(), spec_.interface));
        names_[ifindex_] = spec_.interface;
    }
    // Protocol 0: nothing is queued until bind(), which comes after the filter is attached, so
    // no unfiltered packet slips in.
    fd_.reset(::socket(AF_PACKET, (spec_.cooked ? SOCK_DGRAM : SOCK_RAW) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) {
        if (errno == EPERM || errno == EACCES)
            throw StartupError(fmt::format("Listener '{}': needs CAP_NET_RAW to open a packet socket (run as root "
                                           "or grant the capability)",
                                           name()));
        fail("open a packet socket");
    }
    ifreq request{};
    if (ifindex_) {
        std::strncpy(request.ifr_name, spec_.interface.c_str(), IFNAMSIZ - 1);
        if (!spec_.cooked && ::ioctl(fd_.get(), SIOCGIFHWADDR, &request) == 0 &&
            request.ifr_hwaddr.sa_family != ARPHRD_ETHER && request.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK)
            throw StartupError(fmt::format("Listener '{}': interface '{}' is not Ethernet (ARPHRD {}); use 'mode: "
                                           "cooked'",
                                           name(), spec_.interface, request.ifr_hwaddr.sa_family));
    }
    // A listener that routes only send to does not capture: it would read packets for nobody.
    capturing_ = spec_.routedFrom;
    if (capturing_) {
        std::vector<sock_filter> filter = spec_.filter;
        if (!spec_.cooked && ifindex_ && !spec_.filterText.empty()) {
            std::string why;
            if (auto live = compileLivePacketFilter(spec_.filterText, spec_.interface, spec_.snaplen, why))
                filter = std::move(*live);
            else
                logf(LogLevel::Warning, "Listener '{}': failed to compile the filter on '{}' ({}); 'vlan', 'inbound' "
                     "and 'outbound' may not match, using the offline one", name(), spec_.interface, why);
        }
        sock_fprog program{uint16_t(filter.size()), filter.data()};
        if (setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) < 0)
            fail("attach the BPF filter");
        int on = 1;
        if (spec_.direction == Direction::In)
            ignoresOutgoing_ = setsockopt(fd_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof(on)) == 0;
        if (setsockopt(fd_.get(), SOL_PACKET, PACKET_AUXDATA, &on, sizeof(on)) < 0) fail("set PACKET_AUXDATA");
        if (setsockopt(fd_.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) fail("set SO_TIMESTAMPNS");
        if (spec_.ring) setupRing();
        if (spec_.promiscuous) {
            packet_mreq membership{};
            membership.mr_ifindex = ifindex_;
            membership.mr_type = PACKET_MR_PROMISC;
            if (setsockopt(fd_.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof(membership)) < 0)
                fail("enable promiscuous mode");
        }
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = capturing_ ? htons(ETH_P_ALL) : 0;
    address.sll_ifindex = ifindex_;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) fail("bind");
    if (ifindex_ && ::ioctl(fd_.get(), SIOCGIFMTU, &request) == 0) mtu_ = size_t(request.ifr_mtu);
    if (ifindex_ && ::ioctl(fd_.get(), SIOCGIFFLAGS, &request) == 0 && !(request.ifr_flags & IFF_UP))
        logf(LogLevel::Warning, "Listener '{}': interface '{}' is down: nothing is {} until it is up", name(),
             spec_.interface, capturing_ ? "captured" : "sent");
    watch_ = loop().watchIo(fd_.get(), capturing_ ? uint32_t(kReadable) : 0u, [this](uint32_t events) {
        if (events & (kReadable | kError)) receive();
        if (events & kWritable) sendPending();
    });
    logf(LogLevel::Info, "Listener '{}' on {}", name(), describe());
}

void PacketListener::setupRing()
{
    const RingGeometry &ring = spec_.geometry;
    int version = TPACKET_V3;
    if (setsockopt(fd_.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0) fail("select TPACKET_V3");
    tpacket_req3 request{};
    request.tp_block_size = ring.blockSize;
    request.tp_block_nr = ring.blocks;
    request.tp_frame_size = ring.frameSize;
    request.tp_frame_nr = ring.blockSize / ring.frameSize * ring.blocks;
    request.tp_retire_blk_tov = unsigned(ring.timeout.count());
    if (setsockopt(fd_.get(), SOL_PACKET, PACKET_RX_RING, &request, sizeof(request)) < 0)
        fail("set up the receive ring (PACKET_RX_RING)");
    const size_t size = size_t(ring.blockSize) * ring.blocks;
    void *base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd_.get(), 0);
    if (base == MAP_FAILED)  // MAP_LOCKED needs RLIMIT_MEMLOCK room; the ring works without it
        base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (base == MAP_FAILED) fail("map the receive ring");
    ring_ = MappedRing(static_cast<uint8_t *>(base), size);
    settle_ = loop().makeTimer([this] {
        finalRead_ = true;
        receive();
        finalRead_ = false;
        ringSettling_ = false;
    });
}

std::string PacketListener::describe() const
{
    std::string text = fmt::format("interface {} ({}", spec_.interface, spec_.cooked ? "cooked" : "raw");
    if (capturing_) {
        text += spec_.ring ? ", ring " + spec_.geometry.describe() : std::string(", recvmmsg");
        if (!spec_.filterText.empty()) text += fmt::format(", filter '{}'", spec_.filterText);
        if (spec_.promiscuous) text += ", promiscuous";
    } else {
        text += ", not capturing";
    }
    if (spec_.inject) text += ", inject";
    return text + ")";
}

void PacketListener::receive()
{
    if (spec_.ring)
        receiveRing();
    else
        receiveBatch();
}

void PacketListener::receiveRing()
{
    const RingGeometry &ring = spec_.geometry;
    // The final read at shutdown takes every block the kernel handed over, ignoring back-pressure.
    for (uint32_t seen = 0; seen < ring.blocks && mayRun(); ++seen) {
        auto *block = reinterpret_cast<tpacket_block_desc *>(ring_.base() + nextBlock_ * ring.blockSize);
        if (!(__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) return;
        if (!finalRead_ && !mayRead()) {
            reading_ = false;
            updateEvents();
            return;
        }
        const uint8_t *at = reinterpret_cast<const uint8_t *>(block) + block->hdr.bh1.offset_to_first_pkt;
        for (uint32_t i = 0; i < block->hdr.bh1.num_pkts; ++i) {
            const auto *header = reinterpret_cast<const tpacket3_hdr *>(at);
            const auto *from = reinterpret_cast<const sockaddr_ll *>(at + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
            handle(at + header->tp_mac, header->tp_snaplen, header->tp_len, *from,
                   int64_t(header->tp_sec) * 1'000'000'000 + header->tp_nsec, header->tp_status,
                   header->hv1.tp_vlan_tci, header->hv1.tp_vlan_tpid);
            at += header->tp_next_offset;
        }
        __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        nextBlock_ = (nextBlock_ + 1) % ring.blocks;
    }
}

void PacketListener::receiveBatch()
{
    const size_t slot = spec_.snaplen;
    if (buffers_.empty()) buffers_.resize(kBatch * slot);
    mmsghdr headers[kBatch];
    iovec iovs[kBatch];
    sockaddr_ll addresses[kBatch];
    // Room for SCM_TIMESTAMPNS and PACKET_AUXDATA.
    alignas(cmsghdr) uint8_t controls[kBatch][CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(tpacket_auxdata))];
    const int rounds = finalRead_ ? 1024 : 8;
    for (int round = 0; round < rounds && mayRun(); ++round) {
        if (!finalRead_ && !mayRead()) {
            reading_ = false;
            updateEvents();
            return;
        }
        for (size_t i = 0; i < kBatch; ++i) {
            iovs[i] = {buffers_.data() + i * slot, slot};
            headers[i] = {};
            headers[i].msg_hdr.msg_name = &addresses[i];
            headers[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_control = controls[i];
            headers[i].msg_hdr.msg_controllen = sizeof(controls[i]);
        }
        // MSG_TRUNC: msg_len is the packet's whole length, not what fitted.
        int n = ::recvmmsg(fd_.get(), headers, kBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            // ENETDOWN when the interface went down: counted, and reading goes on.
            logf(LogLevel::Debug, "Listener '{}': receive error: {}", name(), std::strerror(errno));
            ++counters().errors;
            return;
        }
        for (int i = 0; i < n; ++i) {
            int64_t timestamp = 0;
            const tpacket_auxdata *aux = nullptr;
            for (cmsghdr *c = CMSG_FIRSTHDR(&headers[i].msg_hdr); c; c = CMSG_NXTHDR(&headers[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    timespec ts;
                    std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    timestamp = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
                } else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
                    aux = reinterpret_cast<const tpacket_auxdata *>(CMSG_DATA(c));
                }
            }
            const uint32_t wire = aux ? aux->tp_len : headers[i].msg_len;
            const size_t captured = std::min<size_t>(headers[i].msg_len, slot);
            handle(static_cast<const uint8_t *>(iovs[i].iov_base), captured, wire, addresses[i],
                   timestamp ? timestamp : realtimeNowNs(), aux ? aux->tp_status : 0, aux ? aux->tp_vlan_tci : 0,
                   aux ? aux->tp_vlan_tpid : 0);
        }
        if (size_t(n) < kBatch) return;
    }
}

void PacketListener::handle(const uint8_t *data, size_t captured, uint32_t wireLength, const sockaddr_ll &from,
                            int64_t timestampNs, uint32_t status, uint32_t vlanTci, uint16_t vlanTpid)
{
    const bool vlanValid = status & TP_STATUS_VLAN_VALID;
    if (!(status & TP_STATUS_VLAN_TPID_VALID)) vlanTpid = 0;
    const bool outgoing = from.sll_pkttype == PACKET_OUTGOING;
    if ((spec_.direction == Direction::In && outgoing && !ignoresOutgoing_) ||
        (spec_.direction == Direction::Out && !outgoing))
        return;
    // Built where routes will share it: moving a Message (three strings) costs per packet.
    auto shared = std::make_shared<Message>();
    Message &message = *shared;
    message.kind = MessageKind::Packet;
    message.timestampNs = timestampNs;
    message.ifindex = from.sll_ifindex;
    message.peer = interfaceName(from.sll_ifindex);
    message.wireLength = wireLength;
    auto &bytes = message.data;
    if (spec_.cooked) {
        message.linkType = kLinkTypeLinuxSll2;
        bytes.reserve(20 + captured);
        appendSll2Header(from, bytes);
        bytes.insert(bytes.end(), data, data + captured);
        message.wireLength += 20;
        if (status & TP_STATUS_CSUMNOTREADY)
            (void)completeChecksum(std::span(bytes).subspan(20), ntohs(from.sll_protocol));
    } else {
        message.linkType = kLinkTypeEthernet;
        bytes.assign(data, data + captured);
        // The NIC or driver took the 802.1Q tag off into metadata: put it back where it was.
        if (vlanValid && captured >= 12) {
            const uint16_t tpid = vlanTpid ? vlanTpid : ETH_P_8021Q;
            const uint8_t tag[4] = {uint8_t(tpid >> 8), uint8_t(tpid), uint8_t(vlanTci >> 8), uint8_t(vlanTci)};
            bytes.insert(bytes.begin() + 12, tag, tag + 4);
            message.wireLength += 4;
        }
        // A locally sent packet whose checksum the NIC was to fill in: fill it in, so an injected
        // copy is not dropped by its receiver and a pcap shows a good checksum.
        if (status & TP_STATUS_CSUMNOTREADY) {
            size_t offset = 12;
            while (offset + 4 <= bytes.size() && (bytes[offset] << 8 | bytes[offset + 1]) != ETH_P_IP &&
                   (bytes[offset] << 8 | bytes[offset + 1]) != ETH_P_IPV6 &&
                   ((bytes[offset] << 8 | bytes[offset + 1]) == ETH_P_8021Q ||
                    (bytes[offset] << 8 | bytes[offset + 1]) == ETH_P_8021AD))
                offset += 4;
            if (offset + 2 <= bytes.size())
                (void)completeChecksum(std::span(bytes).subspan(offset + 2),
                                       uint16_t(bytes[offset] << 8 | bytes[offset + 1]));
        }
    }
    if (bytes.size() > spec_.snaplen) bytes.resize(spec_.snaplen);
    emit(std::move(shared));
}

const std::string &PacketListener::interfaceName(int ifindex)
{
    auto it = names_.find(ifindex);
    if (it != names_.end()) return it->second;
    char name[IF_NAMESIZE] = "";
    // Interfaces come and go under 'any': a name is looked up once per index.
    std::string text = if_indextoname(unsigned(ifindex), name) ? name : fmt::format("if{}", ifindex);
    if (names_.size() > 1024) names_.clear();
    return names_.emplace(ifindex, std::move(text)).first->second;
}

void PacketListener::drain()
{
    while (pending_.size() < kBatch) {
        MessagePtr message = nextInput();
        if (!message) break;
        // A datagram (a tunnelled frame) carries no link type: it is sent as the frame it holds.
        if (message->linkType != 0 && message->linkType != kLinkTypeEthernet) {
            if (!warnedLinkType_)
                logf(LogLevel::Warning, "Listener '{}': cannot inject packets of link type {} on '{}' (Ethernet "
                     "frames only; counted as errors, further ones not logged)", name(), message->linkType,
                     spec_.interface);
            warnedLinkType_ = true;
            ++counters().errors;
            continue;
        }
        // A packet socket sees a TCP send as the stack built it (up to 64KiB, for the NIC to
        // segment); sent as it is, it would be refused. Split it as GSO would.
        const size_t header = message->size() >= 16 && (message->data[12] << 8 | message->data[13]) == ETH_P_8021Q
                                  ? 18 : 14;
        if (mtu_ && message->size() > mtu_ + header) {
            std::vector<std::vector<uint8_t>> segments;
            if (segmentTcpFrame(message->data, mtu_, segments)) {
                for (auto &segment : segments) {
                    auto part = std::make_shared<Message>();
                    part->kind = message->kind;
                    part->linkType = message->linkType;
                    part->timestampNs = message->timestampNs;
                    part->source = message->source;
                    part->data = std::move(segment);
                    pending_.push_back(std::move(part));
                }
                continue;
            }
        }
        pending_.push_back(std::move(message));
    }
    sendPending();
}

void PacketListener::sendPending()
{
    while (!pending_.empty()) {
        mmsghdr headers[kBatch];
        iovec iovs[kBatch];
        const size_t count = std::min(pending_.size(), kBatch);
        for (size_t i = 0; i < count; ++i) {
            iovs[i] = {const_cast<uint8_t *>(pending_[i]->data.data()), pending_[i]->size()};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::sendmmsg(fd_.get(), headers, unsigned(count), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) break;
            // Too long for the MTU, shorter than a link header, interface down: this frame cannot go.
            logf(LogLevel::Debug, "Listener '{}': failed to inject a frame of {} bytes on '{}': {}", name(),
                 pending_.front()->size(), spec_.interface, std::strerror(errno));
            ++counters().errors;
            pending_.pop_front();
            continue;
        }
        for (int i = 0; i < n; ++i) counters().countOut(pending_[size_t(i)]->size());
        pending_.erase(pending_.begin(), pending_.begin() + n);
        if (pending_.empty() && hasInput()) drain();
    }
    updateEvents();
}

void PacketListener::updateEvents()
{
    if (!watch_) return;
    uint32_t events = 0;
    if (capturing_ && reading_ && !stopped_) events |= kReadable;
    if (!pending_.empty()) events |= kWritable;
    watch_->setEvents(events);
}

void PacketListener::stopReading()
{
    if (stopped_) return;
    if (fd_ && capturing_) {
        finalRead_ = true;
        receive();
        finalRead_ = false;
        // A ring block the kernel is filling is handed over at the latest when its timeout
        // retires it: read once more after that, so the last packets are not lost.
        if (settle_) {
            ringSettling_ = true;
            settle_->arm(spec_.geometry.timeout + std::chrono::milliseconds(5));
        }
    }
    stopped_ = true;
    updateEvents();
}

void PacketListener::refreshCounters()
{
    if (!fd_ || !capturing_) return;
    // Reading the statistics resets them in the kernel, so they are added up here.
    tpacket_stats_v3 stats{};
    socklen_t length = sizeof(stats);
    if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0) counters().kernelDrops += stats.tp_drops;
}

std::unique_ptr<Listener> PacketListenerSpec::create(EventLoop &loop) const
{
    return std::make_unique<PacketListener>(name, loop, *this);
}

/*
 * `ring: {size, block_size, blocks, frame_size, timeout}`: every key optional, what is left out
 * is derived once the routes are known (deriveRingGeometry). Each bad value is an error at its
 * own position.
 */
std::optional<RingSettings> parseRing(OptionReader &reader, uint32_t snaplen)
{
    YAML::Node node = reader.node("ring");
    if (!node.IsDefined()) return RingSettings{};
    if (node.IsScalar()) {
        auto on = reader.boolean("ring");
        return on && !*on ? std::nullopt : std::optional<RingSettings>(RingSettings{});
    }
    if (!node.IsMap()) {
        reader.error("ring", "'ring' must be true, false or a map {size, block_size, blocks, frame_size, timeout}");
        return RingSettings{};
    }
    OptionReader options(node, reader.errors(), "ring");
    options.reportUnknownKeys(kRingKeys);
    RingSettings ring;
    const uint32_t page = uint32_t(sysconf(_SC_PAGESIZE));
    constexpr uint64_t kMaxRing = 1ull << 31;  // the kernel wants the ring's size in 32 bits
    if (auto size = options.size("block_size")) {
        if (*size % page || *size == 0 || *size > (1u << 30))
            options.error("block_size", fmt::format("'block_size' must be a multiple of the page size ({} bytes), "
                                                    "at most 1GiB", page));
        else
            ring.blockSize = uint32_t(*size);
    }
    const uint32_t block = ring.blockSize.value_or(defaultRingBlockSize(snaplen, page));
    if (auto blocks = options.integer("blocks", 1, 65536)) ring.blocks = uint32_t(*blocks);
    if (auto size = options.size("size")) {
        if (options.has("blocks"))
            options.error("size", "give the ring's 'size' or its number of 'blocks', not both");
        else if (*size < block || *size > kMaxRing)
            options.error("size", fmt::format("'size' must be between one block ({} bytes) and 2GiB", block));
        else
            ring.size = *size;
    }
    if (ring.blocks && uint64_t(*ring.blocks) * block > kMaxRing)
        options.error("blocks", fmt::format("{} blocks of {} bytes are more than 2GiB", *ring.blocks, block));
    if (auto frame = options.size("frame_size")) {
        if (*frame % TPACKET_ALIGNMENT || *frame < TPACKET_ALIGN(TPACKET3_HDRLEN) ||
            (ring.blockSize && *frame > *ring.blockSize) || *frame > (1u << 30))
            options.error("frame_size", fmt::format("'frame_size' must be a multiple of {} between {} and "
                                                    "'block_size'", TPACKET_ALIGNMENT, TPACKET_ALIGN(TPACKET3_HDRLEN)));
        else
            ring.frameSize = uint32_t(*frame);
    }
    if (auto timeout = options.duration("timeout")) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
        if (ms.count() < 1 || ms.count() > 60'000)
            options.error("timeout", "'timeout' must be between 1ms and 60s");
        else
            ring.timeout = ms;
    }
    // A packet of snaplen must fit the block the user chose. A derived one holds one of up to
    // kLargestPacket: longer ones (BIG TCP) are cut to the block by the kernel, as with libpcap.
    if (ring.blockSize && uint64_t(snaplen) + ringBlockOverhead() > *ring.blockSize)
        reader.error("ring", fmt::format("'snaplen' {} does not fit a ring block of {} bytes: raise "
                                         "'ring.block_size' or lower 'snaplen'", snaplen, *ring.blockSize));
    return ring;
}

}  // namespace

namespace {

std::optional<std::vector<sock_filter>> compileOn(pcap_t *handle, const std::string &expression, std::string &error)
{
    bpf_program program{};
    if (pcap_compile(handle, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) < 0) {
        error = pcap_geterr(handle);
        return std::nullopt;
    }
    std::vector<sock_filter> instructions(program.bf_len);
    for (size_t i = 0; i < program.bf_len; ++i) {
        const bpf_insn &in = program.bf_insns[i];
        instructions[i] = {in.code, in.jt, in.jf, in.k};
    }
    pcap_freecode(&program);
    return instructions;
}

using PcapHandle = std::unique_ptr<pcap_t, decltype(&pcap_close)>;

}  // namespace

std::optional<std::vector<sock_filter>> compilePacketFilter(const std::string &expression, int dlt,
                                                            uint32_t snaplen, std::string &error)
{
    PcapHandle handle(pcap_open_dead(dlt, int(snaplen)), &pcap_close);
    if (!handle) {
        error = "libpcap could not make a handle for compiling";
        return std::nullopt;
    }
    return compileOn(handle.get(), expression, error);
}

std::optional<std::vector<sock_filter>> compileLivePacketFilter(const std::string &expression,
                                                                const std::string &interface, uint32_t snaplen,
                                                                std::string &error)
{
    char message[PCAP_ERRBUF_SIZE] = "";
    PcapHandle handle(pcap_create(interface.c_str(), message), &pcap_close);
    if (!handle) {
        error = message;
        return std::nullopt;
    }
    // Opened only to compile: the smallest buffer, closed right after.
    pcap_set_snaplen(handle.get(), int(snaplen));
    pcap_set_buffer_size(handle.get(), 65536);
    if (pcap_activate(handle.get()) < 0) {
        error = pcap_geterr(handle.get());
        return std::nullopt;
    }
    if (pcap_datalink(handle.get()) != DLT_EN10MB) {
        error = "not an Ethernet interface";
        return std::nullopt;
    }
    return compileOn(handle.get(), expression, error);
}

bool segmentTcpFrame(std::span<const uint8_t> frame, size_t mtu, std::vector<std::vector<uint8_t>> &out)
{
    size_t l3 = 12;
    auto typeAt = [&](size_t at) { return uint16_t(frame[at] << 8 | frame[at + 1]); };
    while (l3 + 2 <= frame.size() && (typeAt(l3) == ETH_P_8021Q || typeAt(l3) == ETH_P_8021AD)) l3 += 4;
    if (l3 + 2 > frame.size()) return false;
    const uint16_t ethertype = typeAt(l3);
    l3 += 2;
    std::span<const uint8_t> ip = frame.subspan(l3);
    size_t ipHeader, payloadEnd;
    if (ethertype == ETH_P_IP && ip.size() >= 20 && ip[9] == IPPROTO_TCP) {
        ipHeader = size_t(ip[0] & 0x0f) * 4;
        payloadEnd = std::min(ip.size(), size_t(ip[2] << 8 | ip[3]));
    } else if (ethertype == ETH_P_IPV6 && ip.size() >= 40 && ip[6] == IPPROTO_TCP) {
        ipHeader = 40;
        payloadEnd = std::min(ip.size(), 40 + size_t(ip[4] << 8 | ip[5]));
    } else {
        return false;
    }
    if (ipHeader < 20 || ipHeader + 20 > payloadEnd) return false;
    const size_t tcpHeader = size_t(ip[ipHeader + 12] >> 4) * 4;
    const size_t headers = ipHeader + tcpHeader;
    if (tcpHeader < 20 || headers > payloadEnd || mtu <= headers) return false;
    const size_t mss = mtu - headers;
    const uint32_t sequence = uint32_t(ip[ipHeader + 4]) << 24 | uint32_t(ip[ipHeader + 5]) << 16 |
                              uint32_t(ip[ipHeader + 6]) << 8 | ip[ipHeader + 7];
    const uint16_t id = uint16_t(ip[4] << 8 | ip[5]);
    const uint8_t flags = ip[ipHeader + 13];
    const size_t payload = payloadEnd - headers;
    for (size_t offset = 0, index = 0; offset < payload || (payload == 0 && index == 0); offset += mss, ++index) {
        const size_t chunk = std::min(mss, payload - offset);
        std::vector<uint8_t> segment(frame.begin(), frame.begin() + ptrdiff_t(l3 + headers));
        segment.insert(segment.end(), ip.begin() + ptrdiff_t(headers + offset),
                       ip.begin() + ptrdiff_t(headers + offset + chunk));
        uint8_t *s = segment.data() + l3;
        if (ethertype == ETH_P_IP) {
            const size_t total = headers + chunk;
            s[2] = uint8_t(total >> 8);
            s[3] = uint8_t(total);
            s[4] = uint8_t((id + index) >> 8);
            s[5] = uint8_t(id + index);
            s[10] = s[11] = 0;
            uint32_t sum = 0;
            for (size_t i = 0; i < ipHeader; i += 2) sum += uint32_t(s[i] << 8 | s[i + 1]);
            while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
            s[10] = uint8_t(~sum >> 8);
            s[11] = uint8_t(~sum);
        } else {
            const size_t length = tcpHeader + chunk;
            s[4] = uint8_t(length >> 8);
            s[5] = uint8_t(length);
        }
        const uint32_t seq = sequence + uint32_t(offset);
        for (int i = 0; i < 4; ++i) s[ipHeader + 4 + size_t(i)] = uint8_t(seq >> (24 - 8 * i));
        const bool last = offset + chunk >= payload;
        uint8_t f = flags;
        if (!last) f &= uint8_t(~0x09);  // FIN and PSH end the burst
        if (index) f &= uint8_t(~0x80);  // CWR only once
        s[ipHeader + 13] = f;
        (void)completeChecksum(std::span(segment).subspan(l3), ethertype);
        out.push_back(std::move(segment));
        if (last) break;
    }
    return true;
}

namespace {

/*
 * The 16-bit one's complement sum of `bytes` as big-endian words (RFC 1071), folded. It runs for
 * every captured packet whose checksum was left to offload, so it adds 32-bit words in host
 * order into 64 bits: one's complement addition does not care about byte order (RFC 1071 2(B)),
 * so the folded sum is swapped to network order at the end on a little-endian host.
 */
uint32_t onesComplementSum(std::span<const uint8_t> bytes)
{
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 4 <= bytes.size(); i += 4) {
        uint32_t word;
        std::memcpy(&word, bytes.data() + i, 4);
        sum += word;
    }
    if (i + 2 <= bytes.size()) {
        uint16_t half;
        std::memcpy(&half, bytes.data() + i, 2);
        sum += half;
        i += 2;
    }
    if (i < bytes.size()) {  // an odd last byte is the high byte of a word padded with zero
        const uint8_t pad[2] = {bytes[i], 0};
        uint16_t half;
        std::memcpy(&half, pad, 2);
        sum += half;
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const uint16_t folded = uint16_t(sum);
    if constexpr (std::endian::native == std::endian::little) return uint16_t(folded << 8 | folded >> 8);
    return folded;
}

}  // namespace

bool completeChecksum(std::span<uint8_t> l3, uint16_t ethertype)
{
    size_t headerLength, l4Length;
    uint8_t protocol;
    uint32_t sum = 0;
    auto add = [&sum](std::span<const uint8_t> bytes) { sum += onesComplementSum(bytes); };
    if (ethertype == ETH_P_IP) {
        if (l3.size() < 20 || l3[0] >> 4 != 4) return false;
        headerLength = size_t(l3[0] & 0x0f) * 4;
        const size_t total = size_t(l3[2] << 8 | l3[3]);
        if ((l3[6] & 0x3f) || l3[7]) return false;  // a fragment: the checksum spans others
        if (headerLength < 20 || total < headerLength || total > l3.size()) return false;
        protocol = l3[9];
        l4Length = total - headerLength;
        add(l3.subspan(12, 8));
    } else if (ethertype == ETH_P_IPV6) {
        if (l3.size() < 40 || l3[0] >> 4 != 6) return false;
        headerLength = 40;
        l4Length = size_t(l3[4] << 8 | l3[5]);
        protocol = l3[6];  // extension headers are not followed
        if (40 + l4Length > l3.size()) return false;
        add(l3.subspan(8, 32));
    } else {
        return false;
    }
    const size_t checksumAt = protocol == IPPROTO_TCP ? 16 : protocol == IPPROTO_UDP ? 6 : 0;
    if (!checksumAt || l4Length < checksumAt + 2) return false;
    std::span<uint8_t> l4 = l3.subspan(headerLength, l4Length);
    sum += protocol + uint32_t(l4Length);
    l4[checksumAt] = l4[checksumAt + 1] = 0;
    add(l4);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t checksum = uint16_t(~sum);
    if (checksum == 0 && protocol == IPPROTO_UDP) checksum = 0xffff;  // 0 means "none" in UDP
    l4[checksumAt] = uint8_t(checksum >> 8);
    l4[checksumAt + 1] = uint8_t(checksum);
    return true;
}

void appendSll2Header(const sockaddr_ll &from, std::vector<uint8_t> &out)
{
    const uint16_t protocol = ntohs(from.sll_protocol);
    const uint32_t ifindex = uint32_t(from.sll_ifindex);
    const uint8_t header[12] = {
        uint8_t(protocol >> 8), uint8_t(protocol), 0, 0,  // protocol type, reserved
        uint8_t(ifindex >> 24), uint8_t(ifindex >> 16), uint8_t(ifindex >> 8), uint8_t(ifindex),
        uint8_t(from.sll_hatype >> 8), uint8_t(from.sll_hatype), from.sll_pkttype,
        uint8_t(std::min<unsigned>(from.sll_halen, 8)),
    };
    out.insert(out.end(), header, header + 12);
    uint8_t address[8] = {};
    std::memcpy(address, from.sll_addr, std::min<size_t>(from.sll_halen, 8));
    out.insert(out.end(), address, address + 8);
}

std::span<const KeySpec> packetListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parsePacketListener(OptionReader &reader)
{
    auto spec = std::make_unique<PacketListenerSpec>();
    if (auto format = reader.string("format"); format && *format != "raw")
        reader.error("format", "a packet listener moves whole packets: 'format' must be raw (write summaries with "
                               "a log of format packet-jsonl)");
    auto interface = reader.string("interface");
    if (!interface) {
        if (!reader.has("interface")) reader.errors().add(reader.map(), "a packet listener needs 'interface: NAME' (or 'any')");
        return nullptr;
    }
    if (interface->empty() || interface->size() >= IFNAMSIZ || interface->find('/') != std::string::npos) {
        reader.error("interface", fmt::format("'{}' is not an interface name", *interface));
        return nullptr;
    }
    spec->interface = *interface;
    const bool any = spec->interface == "any";
    spec->cooked = any;
    if (auto mode = reader.choice("mode", kModes)) {
        spec->cooked = *mode == "cooked";
        if (any && !spec->cooked)
            reader.error("mode", "interface 'any' mixes link types: it needs 'mode: cooked' (Linux cooked SLL2 "
                                 "headers)");
    }
    spec->promiscuous = reader.boolean("promiscuous").value_or(false);
    if (any && spec->promiscuous) reader.error("promiscuous", "'promiscuous' needs a named interface, not 'any'");
    if (auto direction = reader.choice("direction", kDirections))
        spec->direction = *direction == "in" ? Direction::In : *direction == "out" ? Direction::Out : Direction::Both;
    if (auto snaplen = reader.size("snaplen")) {
        if (*snaplen < 64 || *snaplen > kMaxSnaplen)
            reader.error("snaplen", fmt::format("'snaplen' must be between 64 and {}", kMaxSnaplen));
        else
            spec->snaplen = uint32_t(*snaplen);
    }
    spec->inject = reader.boolean("inject").value_or(false);
    if (spec->inject && any)
        reader.error("inject", "'inject' needs a named interface: 'any' cannot send");
    else if (spec->inject && spec->cooked)
        reader.error("inject", "'inject' sends whole frames and needs 'mode: raw'");
    spec->ring = parseRing(reader, spec->snaplen);
    if (spec->ring)  // as for a capture to logs; routesKnown() settles it
        spec->geometry = deriveRingGeometry(*spec->ring, spec->snaplen, uint32_t(sysconf(_SC_PAGESIZE)), false);
    spec->filterText = reader.string("filter").value_or("");
    // A cooked socket's filter sees the packet from its network header on, as raw IP does.
    std::string why;
    auto program = compilePacketFilter(spec->filterText, spec->cooked ? DLT_RAW : DLT_EN10MB, spec->snaplen, why);
    if (!program) {
        reader.error("filter", fmt::format("bad filter '{}': {}{}", spec->filterText, why,
                                           spec->cooked ? " (mode cooked: the filter sees IP packets, no link-layer "
                                                          "header)"
                                                        : ""));
        return nullptr;
    }
    spec->filter = std::move(*program);
    return spec;
}

}  // namespace sockbridge
