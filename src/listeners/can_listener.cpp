// SPDX-License-Identifier: MIT
// CanListener: `type: can` — CAN_RAW with filters, error frames, CAN FD and kernel timestamps;
// waits for its interface through rtnetlink when it is down or gone, and resumes.
#include "listeners/can_listener.h"

#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>

#include "core/can_frame.h"
#include "core/kernel_drops.h"
#include "core/socket_buffer.h"
#include "core/kernel_timestamp.h"
#include "core/link_monitor.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/unique_fd.h"

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"interface", "string", "(required)", "the CAN interface (vcan0, can0), or 'any' to receive from every one"},
    {"filters", "list", "every frame", "CAN_RAW_FILTER: [\"123\", \"100/700\", \"!7DF\", \"18DAF110/1FFFFFFF\"] (hex ID/MASK; "
                                      "'!' inverts; 8 digits or above 7FF: extended); [] receives no frames"},
    {"join", "bool", "false", "CAN_RAW_JOIN_FILTERS: a frame must match every filter, not any"},
    {"error_frames", "bool|mask", "false", "receive error frames: true for all classes, or a CAN_ERR_* mask such as 0x1FF"},
    {"fd", "bool", "false", "CAN FD (CAN_RAW_FD_FRAMES): 64-byte payloads, BRS/ESI; the interface MTU must be 72"},
    {"loopback", "bool", "true", "CAN_RAW_LOOPBACK: frames written are seen by other sockets on this host"},
    {"receive_own", "bool", "false", "CAN_RAW_RECV_OWN_MSGS: also receive the frames this listener writes"},
    {"wait", "bool", "false", "a missing interface is waited for at startup instead of being an error"},
    {"coalesce", "duration", "0", "after a read that emptied the socket, wait this long before the next, so that "
                                  "one wakeup reads many frames (at most 100ms; adds up to that much latency)"},
    {"receive_buffer", "size", "4MiB", "SO_RCVBUF (SO_RCVBUFFORCE when root): room for bursts while the daemon is "
                                       "not scheduled; frames that do not fit are dropped and counted in 'kernel_drops'"},
};

constexpr size_t kBatch = 64;
constexpr auto kRetryMin = std::chrono::milliseconds(1);
constexpr auto kRetryMax = std::chrono::milliseconds(50);

struct CanOptions {
    std::string interface;  // "" for any
    std::optional<std::vector<can_filter>> filters;
    bool join = false;
    can_err_mask_t errorMask = 0;
    bool fd = false;
    bool loopback = true;
    bool receiveOwn = false;
    bool wait = false;
    std::chrono::nanoseconds coalesce{0};
    int receiveBuffer = 4 << 20;
};

// Why a socket could not be opened on an existing interface; empty when it was.
struct OpenResult {
    UniqueFd fd;
    std::string error;
};

OpenResult openSocket(const CanOptions &options, int ifindex, const std::string &listenerName)
{
    auto failed = [&](std::string_view what) {
        return OpenResult{UniqueFd(), fmt::format("Failed to {} for listener '{}' on {}: {}", what, listenerName,
                                                  options.interface.empty() ? "any" : options.interface,
                                                  std::strerror(errno))};
    };
    UniqueFd fd(::socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW));
    if (!fd) return failed("open a CAN_RAW socket");
    if (options.filters) {
        const auto &filters = *options.filters;
        if (setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_FILTER, filters.empty() ? nullptr : filters.data(),
                       socklen_t(filters.size() * sizeof(can_filter))) < 0)
            return failed("set CAN_RAW_FILTER");
    }
    int on = 1, off = 0;
    if (options.join && setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_JOIN_FILTERS, &on, sizeof(on)) < 0)
        return failed("set CAN_RAW_JOIN_FILTERS");
    if (options.errorMask &&
        setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &options.errorMask, sizeof(options.errorMask)) < 0)
        return failed("set CAN_RAW_ERR_FILTER");
    if (!options.loopback && setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_LOOPBACK, &off, sizeof(off)) < 0)
        return failed("set CAN_RAW_LOOPBACK");
    if (options.receiveOwn && setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, &on, sizeof(on)) < 0)
        return failed("set CAN_RAW_RECV_OWN_MSGS");
    if (options.fd) {
        if (ifindex) {
            ifreq request{};
            std::strncpy(request.ifr_name, options.interface.c_str(), IFNAMSIZ - 1);
            if (ioctl(fd.get(), SIOCGIFMTU, &request) < 0) return failed("read the MTU");
            if (request.ifr_mtu != CANFD_MTU)
                return {UniqueFd(), fmt::format("Listener '{}': interface {} has MTU {}, not {}: CAN FD needs "
                                                "'ip link set {} mtu 72' (or set 'fd: false')",
                                                listenerName, options.interface, request.ifr_mtu, CANFD_MTU,
                                                options.interface)};
        }
        if (setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &on, sizeof(on)) < 0)
            return failed("set CAN_RAW_FD_FRAMES");
    }
    if (setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) return failed("set SO_TIMESTAMPNS");
    // Frames dropped with the receive buffer full are counted after each pass (KernelDropCounter).
    if (!setReceiveBuffer(fd.get(), options.receiveBuffer)) return failed("set the receive buffer");
    sockaddr_can address{};
    address.can_family = AF_CAN;
    address.can_ifindex = ifindex;
    if (::bind(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
        if (errno == ENODEV && ifindex)
            return {UniqueFd(), fmt::format("Listener '{}': '{}' is not a CAN interface", listenerName,
                                            options.interface)};
        return failed("bind");
    }
    return {std::move(fd), {}};
}

class CanListener final : public Listener {
public:
    CanListener(std::string name, EventLoop &loop, CanOptions options)
        : Listener(std::move(name), loop), options_(std::move(options)),
          retryTimer_(loop.makeTimer([this] { sendPending(); })), coalesceTimer_(loop.makeTimer([this] {
              coalescing_ = false;
              receive();
              updateEvents();
          }))
    {
    }

    void start() override
    {
        if (options_.interface.empty()) {
            OpenResult result = openSocket(options_, 0, name());
            if (!result.fd) throw StartupError(result.error);
            adopt(std::move(result.fd), 0);
            logf(LogLevel::Info, "Listener '{}' on every CAN interface", name());
            return;
        }
        monitor_ = LinkMonitor::forLoop(loop());
        LinkState now;
        subscription_ = monitor_->subscribe(options_.interface, [this](const LinkState &state) { linkChanged(state); },
                                            now);
        link_ = now;
        if (!now.exists()) {
            if (!options_.wait)
                throw StartupError(fmt::format("Listener '{}': no network interface '{}' (create it, or set "
                                               "'wait: true' to wait for it)",
                                               name(), options_.interface));
            logf(LogLevel::Notice, "Listener '{}': interface {} does not exist; waiting for it", name(),
                 options_.interface);
            return;
        }
        OpenResult result = openSocket(options_, now.ifindex, name());
        if (!result.fd) throw StartupError(result.error);
        adopt(std::move(result.fd), now.ifindex);
        if (!now.up) {
            logf(LogLevel::Notice, "Listener '{}': interface {} is down; waiting for it", name(), options_.interface);
            closeSocket();
            return;
        }
        logf(LogLevel::Info, "Listener '{}' on {}{}", name(), options_.interface, options_.fd ? " (CAN FD)" : "");
    }

    void stopReading() override
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

    void resumeReading() override
    {
        reading_ = true;
        updateEvents();
    }

    std::string describe() const override
    {
        std::string where = options_.interface.empty() ? "any" : options_.interface;
        if (!fd_) return fmt::format("{}: waiting for the interface", where);
        return fmt::format("{}{}{}", where, options_.fd ? " (CAN FD)" : "",
                           pending_.empty() ? "" : fmt::format(", {} frames to write", pending_.size()));
    }

protected:
    void drain() override
    {
        // While the interface is away, frames wait in the route queues (their limits apply).
        if (!fd_) return;
        while (pending_.size() < kBatch) {
            MessagePtr message = nextInput();
            if (!message) break;
            if (addressedElsewhere(*message, options_.interface)) continue;
            const char *why = nullptr;
            std::optional<CanFrame> frame = frameForBus(*message, options_.fd, why);
            if (!frame) {
                logf(warnedInvalid_ ? LogLevel::Debug : LogLevel::Warning,
                     "Listener '{}': rejecting a {}-byte message from '{}': {}", name(), message->size(),
                     message->source, why);
                warnedInvalid_ = true;
                ++counters().errors;
                continue;
            }
            Outgoing out{};
            out.size = frame->isFd() ? CANFD_MTU : CAN_MTU;
            out.frame.can_id = frame->id;
            out.frame.len = frame->len;
            out.frame.flags = frame->isFd() ? frame->flags : 0;
            std::memcpy(out.frame.data, frame->data.data(), frame->len);
            pending_.push_back(out);
            counters().countOut(message->size());
        }
        sendPending();
    }

    bool flushed() const override { return pending_.empty(); }

private:
    struct Outgoing {
        canfd_frame frame;
        size_t size;  // CAN_MTU or CANFD_MTU
    };

    void adopt(UniqueFd fd, int ifindex)
    {
        watch_.reset();
        fd_ = std::move(fd);
        ifindex_ = ifindex;
        kernelDrops_.reset();
        watch_ = loop().watchIo(fd_.get(), 0, [this](uint32_t events) {
            if (events & (kReadable | kError)) receive();
            if (fd_ && (events & kWritable)) sendPending();
        });
        updateEvents();
        if (!pending_.empty() || hasInput()) notifyInput();
    }

    void closeSocket()
    {
        retryTimer_->disarm();
        coalesceTimer_->disarm();
        coalescing_ = false;
        watch_.reset();
        fd_.reset();
    }

    void linkChanged(const LinkState &state)
    {
        LinkState before = link_;
        link_ = state;
        bool usable = state.exists() && state.up;
        if (fd_ && (!usable || state.ifindex != ifindex_)) {
            // Take what the kernel already holds before closing.
            if (!stopped_) {
                finalRead_ = true;
                receive();
                finalRead_ = false;
            }
            closeSocket();
            logf(LogLevel::Warning, "Listener '{}': interface {} {}; waiting for it", name(), options_.interface,
                 !state.exists() ? "was removed" : "went down");
            ++counters().reconnects;
        } else if (!fd_ && before.exists() && !state.exists()) {
            logf(LogLevel::Notice, "Listener '{}': interface {} was removed; waiting for it", name(),
                 options_.interface);
        }
        if (!fd_ && usable) {
            OpenResult result = openSocket(options_, state.ifindex, name());
            if (!result.fd) {
                logf(LogLevel::Error, "{}; waiting for the interface to change", result.error);
                ++counters().errors;
                return;
            }
            adopt(std::move(result.fd), state.ifindex);
            logf(LogLevel::Notice, "Listener '{}': interface {} is up; resuming", name(), options_.interface);
        }
    }

    std::string interfaceName(int ifindex)
    {
        if (!options_.interface.empty()) return options_.interface;
        auto it = names_.find(ifindex);
        if (it != names_.end()) return it->second;
        char name[IF_NAMESIZE] = "";
        if (!if_indextoname(unsigned(ifindex), name)) return fmt::format("if{}", ifindex);
        if (names_.size() > 256) names_.clear();
        return names_[ifindex] = name;
    }

    void receive()
    {
        receiveBatches();
        if (fd_) kernelDrops_.count(fd_.get(), name(), counters());
    }

    void receiveBatches()
    {
        mmsghdr headers[kBatch];
        iovec iovs[kBatch];
        canfd_frame frames[kBatch];
        sockaddr_can addresses[kBatch];
        alignas(cmsghdr) char control[kBatch][CMSG_SPACE(sizeof(timespec)) + 64];
        const int rounds = finalRead_ ? 1024 : 8;
        for (int round = 0; round < rounds && fd_ && (finalRead_ || (reading_ && !stopped_)); ++round) {
            if (!finalRead_ && !mayRead()) {
                reading_ = false;
                updateEvents();
                return;
            }
            for (size_t i = 0; i < kBatch; ++i) {
                iovs[i] = {&frames[i], sizeof(frames[i])};
                headers[i] = {};
                headers[i].msg_hdr.msg_name = &addresses[i];
                headers[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
                headers[i].msg_hdr.msg_iov = &iovs[i];
                headers[i].msg_hdr.msg_iovlen = 1;
                headers[i].msg_hdr.msg_control = control[i];
                headers[i].msg_hdr.msg_controllen = sizeof(control[i]);
            }
            int n = ::recvmmsg(fd_.get(), headers, kBatch, MSG_DONTWAIT, nullptr);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                // ENETDOWN, ENODEV: the interface went away; the link monitor says so too.
                logf(LogLevel::Debug, "Listener '{}': receive error: {}", name(), std::strerror(errno));
                if (errno != ENETDOWN && errno != ENODEV) ++counters().errors;
                continue;
            }
            for (int i = 0; i < n; ++i) emitFrame(headers[i], frames[i], addresses[i]);
            if (size_t(n) < kBatch) {
                // The socket is empty: with 'coalesce', let frames gather for one read instead of
                // waking for each (per wakeup costs dominate at high frame rates).
                if (options_.coalesce.count() && !finalRead_) {
                    coalescing_ = true;
                    coalesceTimer_->arm(options_.coalesce);
                    updateEvents();
                }
                return;
            }
        }
    }

    void emitFrame(const mmsghdr &header, const canfd_frame &raw, const sockaddr_can &from)
    {
        CanFrame frame;
        frame.id = raw.can_id;
        if (header.msg_len == CANFD_MTU) {
            frame.len = std::min<uint8_t>(raw.len, CANFD_MAX_DLEN);
            frame.flags = uint8_t((raw.flags & (CANFD_BRS | CANFD_ESI)) | CanFrame::kFdf);
        } else if (header.msg_len == CAN_MTU) {
            frame.len = std::min<uint8_t>(raw.len, CAN_MAX_DLEN);
        } else {
            ++counters().errors;
            return;
        }
        std::memcpy(frame.data.data(), raw.data, frame.len);
        Message message;
        message.kind = MessageKind::CanFrame;
        message.linkType = kLinkTypeCanSocketCan;
        message.timestampNs = kernelTimestampNs(const_cast<msghdr &>(header.msg_hdr));
        if (!message.timestampNs) message.timestampNs = realtimeNowNs();
        message.ifindex = from.can_ifindex ? from.can_ifindex : ifindex_;
        message.peer = interfaceName(message.ifindex);
        frame.appendTo(message.data);
        message.wireLength = uint32_t(message.data.size());
        emit(std::move(message));
    }

    void sendPending()
    {
        while (fd_ && !pending_.empty()) {
            mmsghdr headers[kBatch];
            iovec iovs[kBatch];
            size_t count = std::min(pending_.size(), kBatch);
            for (size_t i = 0; i < count; ++i) {
                iovs[i] = {&pending_[i].frame, pending_[i].size};
                headers[i] = {};
                headers[i].msg_hdr.msg_iov = &iovs[i];
                headers[i].msg_hdr.msg_iovlen = 1;
            }
            int n = ::sendmmsg(fd_.get(), headers, unsigned(count), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;  // writable again wakes us
                if (errno == ENOBUFS) {
                    // The device queue is full; the socket may still poll writable, so retry on a
                    // timer that backs off.
                    retryDelay_ = std::min(retryDelay_ * 2, std::chrono::nanoseconds(kRetryMax));
                    if (!retryTimer_->armed()) retryTimer_->arm(retryDelay_);
                    break;
                }
                if (errno == ENETDOWN || errno == ENODEV || errno == ENXIO) break;  // the link monitor will tell
                // This frame cannot go (EINVAL: an FD frame on a classic interface): count it.
                logf(LogLevel::Warning, "Listener '{}': failed to write a frame to {}: {}", name(),
                     options_.interface, std::strerror(errno));
                ++counters().errors;
                pending_.pop_front();
                continue;
            }
            retryDelay_ = kRetryMin / 2;
            pending_.erase(pending_.begin(), pending_.begin() + n);
            if (pending_.empty() && hasInput()) drain();  // refill: more is queued
        }
        updateEvents();
    }

    void updateEvents()
    {
        if (!watch_) return;
        uint32_t events = 0;
        if (reading_ && !stopped_ && !coalescing_) events |= kReadable;
        if (!pending_.empty() && !retryTimer_->armed()) events |= kWritable;
        watch_->setEvents(events);
    }

    CanOptions options_;
    std::shared_ptr<LinkMonitor> monitor_;
    std::unique_ptr<LinkMonitor::Subscription> subscription_;
    LinkState link_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    std::unique_ptr<Timer> retryTimer_;
    std::chrono::nanoseconds retryDelay_ = kRetryMin / 2;
    std::unique_ptr<Timer> coalesceTimer_;
    bool coalescing_ = false;  // reads wait for coalesceTimer_
    int ifindex_ = 0;
    KernelDropCounter kernelDrops_{"frames"};
    std::deque<Outgoing> pending_;
    std::map<int, std::string> names_;
    bool reading_ = true;
    bool stopped_ = false;
    bool finalRead_ = false;
    bool warnedInvalid_ = false;
};

class CanListenerSpec final : public ListenerSpec {
public:
    CanOptions options;

    Transport transport() const override { return Transport::Datagram; }
    bool writesToBus() const override { return true; }
    std::optional<std::string> canBus() const override { return options.interface; }
    std::string targetError() const override
    {
        return options.interface.empty() ? "a can listener on 'any' only receives: name an interface to write to"
                                         : std::string();
    }
    std::unique_ptr<Listener> create(EventLoop &loop) const override
    {
        return std::make_unique<CanListener>(name, loop, options);
    }
};

// "123", "100/700", "!7DF", "18DAF110/1FFFFFFF", "0x123/0x7FF".
std::optional<can_filter> parseFilter(std::string_view text, std::string &why)
{
    std::string_view rest = text;
    bool inverted = rest.starts_with('!');
    if (inverted) rest.remove_prefix(1);
    std::string_view idText = rest, maskText;
    if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
        idText = rest.substr(0, slash);
        maskText = rest.substr(slash + 1);
    }
    auto hex = [](std::string_view s) -> std::optional<std::pair<uint32_t, size_t>> {
        if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
        if (s.empty() || s.size() > 8) return std::nullopt;
        uint32_t value = 0;
        for (char c : s) {
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0) return std::nullopt;
            value = value << 4 | uint32_t(v);
        }
        return std::pair{value, s.size()};
    };
    auto id = hex(idText);
    // No mask is the whole ID; built from the limit, not from an empty optional, which g++ -Os
    // takes for a maybe-uninitialized read.
    const bool masked = !maskText.empty();
    const auto mask = masked ? hex(maskText) : std::optional{std::pair{uint32_t(0), size_t(0)}};
    if (!id || !mask) {
        why = fmt::format("filter '{}' is not hex ID/MASK (\"123\", \"100/700\", \"!7DF\", \"18DAF110/1FFFFFFF\")",
                          text);
        return std::nullopt;
    }
    bool extended = id->second == 8 || id->first > CAN_SFF_MASK;
    uint32_t limit = extended ? CAN_EFF_MASK : CAN_SFF_MASK;
    uint32_t maskValue = masked ? mask->first : limit;
    if (id->first > limit || maskValue > CAN_EFF_MASK) {
        why = fmt::format("filter '{}' is out of range: ids and masks go up to 1FFFFFFF", text);
        return std::nullopt;
    }
    can_filter filter;
    filter.can_id = id->first | (extended ? CAN_EFF_FLAG : 0) | (inverted ? CAN_INV_FILTER : 0);
    filter.can_mask = maskValue | CAN_EFF_FLAG;  // standard and extended never match each other
    return filter;
}

}  // namespace

std::span<const KeySpec> canListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parseCanListener(OptionReader &reader)
{
    auto spec = std::make_unique<CanListenerSpec>();
    CanOptions &options = spec->options;
    auto interface = reader.string("interface");
    if (!interface) {
        if (!reader.has("interface"))
            reader.errors().add(reader.map(), "a can listener needs 'interface: NAME' (vcan0, can0) or 'any'");
        return nullptr;
    }
    if (*interface != "any") {
        if (interface->empty() || interface->size() >= IFNAMSIZ || interface->find_first_of("/ \t:") != std::string::npos)
            reader.error("interface", fmt::format("'{}' is not a network interface name", *interface));
        options.interface = *interface;
    }
    if (YAML::Node filters = reader.node("filters"); filters.IsDefined()) {
        options.filters.emplace();
        if (!filters.IsSequence()) {
            reader.error("filters", "'filters' must be a list of \"ID/MASK\" strings");
        } else {
            for (const auto &item : filters) {
                std::string why;
                std::optional<can_filter> filter = item.IsScalar() ? parseFilter(item.Scalar(), why) : std::nullopt;
                if (!item.IsScalar()) why = "each filter must be a string \"ID/MASK\"";
                if (filter)
                    options.filters->push_back(*filter);
                else
                    reader.errors().add(item, why);
            }
        }
    }
    options.join = reader.boolean("join").value_or(false);
    if (options.join && (!reader.has("filters") || !reader.node("filters").IsSequence() || reader.node("filters").size() < 2))
        reader.error("join", "'join' needs at least two 'filters' (a frame must match all of them)");
    if (reader.has("error_frames")) {
        std::string text = reader.node("error_frames").IsScalar() ? reader.node("error_frames").Scalar() : "";
        if (text == "true" || text == "false" || text == "yes" || text == "no" || text == "on" || text == "off") {
            if (reader.boolean("error_frames").value_or(false)) options.errorMask = CAN_ERR_MASK;
        } else if (auto mask = reader.integer("error_frames", 0, CAN_ERR_MASK)) {
            options.errorMask = can_err_mask_t(*mask);
        }
    }
    options.fd = reader.boolean("fd").value_or(false);
    options.loopback = reader.boolean("loopback").value_or(true);
    options.receiveOwn = reader.boolean("receive_own").value_or(false);
    if (options.receiveOwn && !options.loopback)
        reader.error("receive_own", "'receive_own' needs 'loopback: true' (the kernel echoes only looped-back frames)");
    if (auto coalesce = reader.duration("coalesce")) {
        if (*coalesce > std::chrono::milliseconds(100))
            reader.error("coalesce", "'coalesce' must be at most 100ms");
        options.coalesce = *coalesce;
    }
    if (auto bytes = reader.bufferSize("receive_buffer")) options.receiveBuffer = *bytes;
    options.wait = reader.boolean("wait").value_or(false);
    if (options.wait && options.interface.empty())
        reader.error("wait", "'wait' is for a named interface, not 'any'");
    return spec;
}

}  // namespace sockbridge
