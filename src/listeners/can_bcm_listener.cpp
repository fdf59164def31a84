// SPDX-License-Identifier: MIT
// CanBcmListener: `type: can-bcm` — CAN_BCM transmit jobs (TX_SETUP), receive jobs (RX_SETUP)
// whose changes and timeouts become messages, and frames from routes sent once (TX_SEND).
// Waits for its interface through rtnetlink and sets its jobs up again when it returns.
#include "listeners/can_bcm_listener.h"

#include <linux/can.h>
#include <linux/can/bcm.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <set>

#include "core/bcm_message.h"
#include "core/can_frame.h"
#include "core/kernel_timestamp.h"
#include "core/link_monitor.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/socket_buffer.h"
#include "core/unique_fd.h"

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"interface", "string", "(required)", "the CAN interface (vcan0, can0)"},
    {"fd", "bool", "false", "CAN FD jobs and frames (CAN_FD_FRAME): up to 64 bytes; the interface MTU must be 72"},
    {"transmit", "list", "none",
     "cyclic transmit jobs {id, extended, data, interval, count, first_interval, fd, brs} (TX_SETUP)"},
    {"receive", "list", "none",
     "receive jobs {id, extended, mask, changes_only, throttle, timeout, fd} (RX_SETUP): changes and timeouts "
     "become messages"},
    {"wait", "bool", "false", "a missing interface is waited for at startup instead of being an error"},
};

constexpr std::string_view kTransmitKeys[] = {"id", "extended", "data", "interval", "count", "first_interval",
                                               "fd", "brs"};
constexpr std::string_view kReceiveKeys[] = {"id", "extended", "mask", "changes_only", "throttle", "timeout", "fd"};

constexpr size_t kMaxPending = 64;
constexpr auto kRetryMin = std::chrono::milliseconds(1);
constexpr auto kRetryMax = std::chrono::milliseconds(50);
// The kernel refuses timers of 400 days or more (BCM_TIMER_SEC_MAX).
constexpr auto kMaxInterval = std::chrono::hours(24 * 400);

struct BcmOptions {
    std::string interface;
    bool fd = false;
    bool wait = false;
    std::vector<BcmTxJob> transmit;
    std::vector<BcmRxJob> receive;
};

std::string idText(uint32_t id)
{
    return (id & CanFrame::kEffFlag) ? fmt::format("0x{:08X}", id & CanFrame::kEffMask)
                                     : fmt::format("0x{:03X}", id & CanFrame::kSffMask);
}

class CanBcmListener final : public Listener {
public:
    CanBcmListener(std::string name, EventLoop &loop, BcmOptions options)
        : Listener(std::move(name), loop), options_(std::move(options)),
          retryTimer_(loop.makeTimer([this] { sendPending(); }))
    {
    }

    void start() override
    {
        monitor_ = LinkMonitor::forLoop(loop());
        LinkState now;
        subscription_ = monitor_->subscribe(options_.interface, [this](const LinkState &state) { linkChanged(state); },
                                            now);
        if (!now.exists()) {
            if (!options_.wait)
                throw StartupError(fmt::format("Listener '{}': no network interface '{}' (create it, or set "
                                               "'wait: true' to wait for it)",
                                               name(), options_.interface));
            logf(LogLevel::Notice, "Listener '{}': interface {} does not exist; waiting for it", name(),
                 options_.interface);
            return;
        }
        if (!now.up) {
            logf(LogLevel::Notice, "Listener '{}': interface {} is down; waiting for it", name(), options_.interface);
            return;
        }
        std::string error = open(now);
        if (!error.empty()) throw StartupError(error);
        logf(LogLevel::Info, "Listener '{}' on {}: {} transmit and {} receive jobs{}", name(), options_.interface,
             options_.transmit.size(), options_.receive.size(), options_.fd ? " (CAN FD)" : "");
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
        if (!fd_) return fmt::format("{}: waiting for the interface", options_.interface);
        return fmt::format("{}{}: {} transmit, {} receive jobs{}", options_.interface, options_.fd ? " (CAN FD)" : "",
                           options_.transmit.size(), options_.receive.size(),
                           pending_.empty() ? "" : fmt::format(", {} frames to send", pending_.size()));
    }

protected:
    void drain() override
    {
        // While the interface is away, frames wait in the route queues (their limits apply).
        if (!fd_) return;
        while (pending_.size() < kMaxPending) {
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
            pending_.push_back(bcmTxSend(*frame));
            counters().countOut(message->size());
        }
        sendPending();
    }

    bool flushed() const override { return pending_.empty(); }

private:
    // Opens the socket, connects it and sets every job up; the error, or empty.
    std::string open(const LinkState &link)
    {
        auto failed = [&](std::string_view what) {
            return fmt::format("Failed to {} for listener '{}' on {}: {}", what, name(), options_.interface,
                               std::strerror(errno));
        };
        if (options_.fd && link.mtu != CANFD_MTU)
            return fmt::format("Listener '{}': interface {} has MTU {}, not {}: CAN FD needs 'ip link set {} mtu 72' "
                               "(or set 'fd: false')",
                               name(), options_.interface, link.mtu, CANFD_MTU, options_.interface);
        UniqueFd fd(::socket(PF_CAN, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_BCM));
        if (!fd) return failed("open a CAN_BCM socket");
        int on = 1;
        // RX_CHANGED carries the received frame's kernel time; kernels that give none (and every
        // RX_TIMEOUT) get the time of reading.
        setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
        (void)setReceiveBuffer(fd.get(), 1 << 20);  // a smaller one still works
        sockaddr_can address{};
        address.can_family = AF_CAN;
        address.can_ifindex = link.ifindex;
        if (::connect(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
            if (errno == ENODEV)
                return fmt::format("Listener '{}': '{}' is not a CAN interface", name(), options_.interface);
            return failed("connect");
        }
        auto setup = [&](const std::vector<uint8_t> &request, std::string_view what, uint32_t id) {
            ssize_t n = ::write(fd.get(), request.data(), request.size());
            if (n == ssize_t(request.size())) return std::string();
            if (n >= 0) errno = EIO;
            return failed(fmt::format("set up the {} job for id {}", what, idText(id)));
        };
        for (const auto &job : options_.transmit)
            if (std::string error = setup(bcmTxSetup(job), "transmit", job.frame.id); !error.empty()) return error;
        for (const auto &job : options_.receive)
            if (std::string error = setup(bcmRxSetup(job), "receive", job.id); !error.empty()) return error;
        fd_ = std::move(fd);
        ifindex_ = link.ifindex;
        watch_ = loop().watchIo(fd_.get(), 0, [this](uint32_t events) {
            if (events & (kReadable | kError)) receive();
            if (fd_ && (events & kWritable)) sendPending();
        });
        updateEvents();
        if (!pending_.empty() || hasInput()) notifyInput();
        return {};
    }

    void closeSocket()
    {
        retryTimer_->disarm();
        watch_.reset();
        fd_.reset();  // the kernel removes every job of the socket
    }

    void linkChanged(const LinkState &state)
    {
        bool usable = state.exists() && state.up;
        if (fd_ && (!usable || state.ifindex != ifindex_)) {
            if (!stopped_) {
                finalRead_ = true;
                receive();
                finalRead_ = false;
            }
            closeSocket();
            logf(LogLevel::Warning, "Listener '{}': interface {} {}; waiting for it", name(), options_.interface,
                 !state.exists() ? "was removed" : "went down");
            ++counters().reconnects;
        }
        if (!fd_ && usable) {
            std::string error = open(state);
            if (!error.empty()) {
                logf(LogLevel::Error, "{}; waiting for the interface to change", error);
                ++counters().errors;
                return;
            }
            logf(LogLevel::Notice, "Listener '{}': interface {} is up; jobs set up again", name(),
                 options_.interface);
        }
    }

    void receive()
    {
        constexpr size_t kBufferSize = sizeof(bcm_msg_head) + 4 * CANFD_MTU;
        alignas(bcm_msg_head) uint8_t buffer[kBufferSize];
        ControlSpace control;
        const int limit = finalRead_ ? 4096 : 256;
        for (int i = 0; i < limit && fd_ && (finalRead_ || (reading_ && !stopped_)); ++i) {
            if (!finalRead_ && !mayRead()) {
                reading_ = false;
                updateEvents();
                return;
            }
            const ReceivedDatagram received = receiveWithControl(fd_.get(), buffer, control);
            const ssize_t n = received.length;
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                // ENETDOWN: the interface went down; the link monitor says so too.
                logf(LogLevel::Debug, "Listener '{}': receive error: {}", name(), std::strerror(errno));
                if (errno != ENETDOWN && errno != ENODEV) ++counters().errors;
                if (errno != ENETDOWN && errno != ENODEV) return;
                continue;
            }
            std::optional<BcmEvent> event = parseBcmMessage({buffer, size_t(n)});
            if (!event || event->kind == BcmEvent::Kind::Other) {
                logf(LogLevel::Debug, "Listener '{}': ignoring a {}-byte BCM message (opcode {})", name(), n,
                     event ? event->opcode : 0);
                continue;
            }
            Message message;
            message.linkType = kLinkTypeCanSocketCan;
            message.timestampNs = received.timestampNs;
            message.ifindex = ifindex_;
            message.peer = options_.interface;
            if (event->kind == BcmEvent::Kind::Changed) {
                message.kind = MessageKind::CanFrame;
                event->frame->appendTo(message.data);
            } else {
                message.kind = MessageKind::CanTimeout;
                CanFrame frame;
                frame.id = event->id & (CanFrame::kEffFlag | CanFrame::kEffMask);
                frame.appendTo(message.data);
            }
            message.wireLength = uint32_t(message.data.size());
            emit(std::move(message));
        }
    }

    void sendPending()
    {
        while (fd_ && !pending_.empty()) {
            const std::vector<uint8_t> &request = pending_.front();
            ssize_t n = ::send(fd_.get(), request.data(), request.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;  // writable again wakes us
                if (errno == ENOBUFS) {
                    // The device queue is full: retry on a timer that backs off.
                    retryDelay_ = std::min(retryDelay_ * 2, std::chrono::nanoseconds(kRetryMax));
                    if (!retryTimer_->armed()) retryTimer_->arm(retryDelay_);
                    break;
                }
                if (errno == ENETDOWN || errno == ENODEV || errno == ENXIO) break;  // the link monitor will tell
                logf(LogLevel::Warning, "Listener '{}': failed to send a frame on {}: {}", name(), options_.interface,
                     std::strerror(errno));
                ++counters().errors;
            }
            retryDelay_ = kRetryMin / 2;
            pending_.pop_front();
            if (pending_.empty() && hasInput()) drain();  // refill: more is queued
        }
        updateEvents();
    }

    void updateEvents()
    {
        if (!watch_) return;
        uint32_t events = 0;
        if (reading_ && !stopped_) events |= kReadable;
        if (!pending_.empty() && !retryTimer_->armed()) events |= kWritable;
        watch_->setEvents(events);
    }

    BcmOptions options_;
    std::shared_ptr<LinkMonitor> monitor_;
    std::unique_ptr<LinkMonitor::Subscription> subscription_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    std::unique_ptr<Timer> retryTimer_;
    std::chrono::nanoseconds retryDelay_ = kRetryMin / 2;
    int ifindex_ = 0;
    std::deque<std::vector<uint8_t>> pending_;  // TX_SEND requests
    bool reading_ = true;
    bool stopped_ = false;
    bool finalRead_ = false;
    bool warnedInvalid_ = false;
};

class CanBcmListenerSpec final : public ListenerSpec {
public:
    BcmOptions options;

    Transport transport() const override { return Transport::Datagram; }
    bool writesToBus() const override { return true; }
    std::optional<std::string> canBus() const override { return options.interface; }
    std::unique_ptr<Listener> create(EventLoop &loop) const override
    {
        return std::make_unique<CanBcmListener>(name, loop, options);
    }
};

// "11 22 33 44", "01020304", "11.22", "0x1122": hex byte pairs, optionally separated by spaces,
// '.' or ':'.
std::optional<std::vector<uint8_t>> parseHexBytes(std::string_view text, std::string &why)
{
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
    auto value = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    };
    std::vector<uint8_t> bytes;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == ' ' || c == '.' || c == ':' || c == '\t') {
            ++i;
            continue;
        }
        if (i + 1 >= text.size() || value(c) < 0 || value(text[i + 1]) < 0) {
            why = value(c) < 0 || (i + 1 < text.size() && value(text[i + 1]) < 0)
                      ? fmt::format("bad hex '{}'", text.substr(i, 2))
                      : "odd number of hex digits";
            return std::nullopt;
        }
        bytes.push_back(uint8_t(value(c) << 4 | value(text[i + 1])));
        i += 2;
    }
    return bytes;
}

// A job's id: `id` and `extended` (default: ids above 0x7FF are extended). 0 on error.
std::optional<uint32_t> readId(OptionReader &job, std::string_view what)
{
    if (!job.has("id")) {
        job.errors().add(job.map(), fmt::format("a {} job needs an 'id'", what));
        return std::nullopt;
    }
    auto id = job.integer("id", 0, CanFrame::kEffMask);
    std::optional<bool> extended = job.boolean("extended");
    if (!id) return std::nullopt;
    bool isExtended = extended.value_or(*id > CanFrame::kSffMask);
    if (!isExtended && *id > CanFrame::kSffMask) {
        job.error("id", fmt::format("standard id 0x{:X} is out of range (at most 0x7FF; set 'extended: true')", *id));
        return std::nullopt;
    }
    return uint32_t(*id) | (isExtended ? CanFrame::kEffFlag : 0);
}

std::optional<std::chrono::nanoseconds> readInterval(OptionReader &job, std::string_view key)
{
    auto value = job.duration(key);
    if (!value) return std::nullopt;
    if (*value < std::chrono::microseconds(1)) {
        job.error(key, fmt::format("'{}' must be at least 1us", key));
        return std::nullopt;
    }
    if (*value >= kMaxInterval) {
        job.error(key, fmt::format("'{}' must be under 400 days", key));
        return std::nullopt;
    }
    return value;
}

// Returns the job's fd setting: its own 'fd', else the listener's.
bool readJobFd(OptionReader &job, bool listenerFd)
{
    std::optional<bool> fd = job.boolean("fd");
    if (fd && *fd && !listenerFd) job.error("fd", "a CAN FD job needs 'fd: true' on the listener");
    return fd.value_or(listenerFd);
}

void parseTransmit(OptionReader &reader, const YAML::Node &item, BcmOptions &options, std::set<uint32_t> &ids)
{
    OptionReader job(item, reader.errors(), "transmit");
    job.reportUnknownKeys(kTransmitKeys);
    BcmTxJob tx;
    auto id = readId(job, "transmit");
    bool fd = readJobFd(job, options.fd);
    bool brs = job.boolean("brs").value_or(false);
    if (brs && !fd) job.error("brs", "'brs' (bit rate switch) is for CAN FD jobs");
    if (!job.has("data")) job.errors().add(item, "a transmit job needs 'data' (hex bytes, \"\" for none)");
    YAML::Node dataNode = job.node("data");
    std::optional<std::string> text;
    if (dataNode.IsDefined() && !dataNode.IsScalar())
        job.error("data", "'data' must be a string of hex bytes (\"11 22 33\", \"112233\")");
    else if (dataNode.IsDefined() && !dataNode.IsNull())
        text = dataNode.Scalar();
    else if (dataNode.IsDefined())
        text = "";
    if (text) {
        std::string why;
        auto data = parseHexBytes(*text, why);
        if (!data) {
            job.error("data", fmt::format("'data' is not hex bytes (\"11 22 33\", \"112233\"): {}", why));
        } else if (!fd && data->size() > 8) {
            job.error("data", fmt::format("{} data bytes: a classic CAN frame carries at most 8 (set 'fd: true' for "
                                          "CAN FD)",
                                          data->size()));
        } else if (fd && (data->size() > 64 || !isValidFdLength(data->size()))) {
            job.error("data", fmt::format("{} data bytes is not a CAN FD length (0..8, 12, 16, 20, 24, 32, 48, 64)",
                                          data->size()));
        } else {
            tx.frame.len = uint8_t(data->size());
            std::copy(data->begin(), data->end(), tx.frame.data.begin());
        }
    }
    if (fd) tx.frame.flags = CanFrame::kFdf | (brs ? CanFrame::kBrs : 0);
    if (job.has("count")) {
        if (auto count = job.integer("count", 1, UINT32_MAX)) tx.count = uint32_t(*count);
        if (!job.has("first_interval"))
            job.error("count", "'count' needs 'first_interval' (the spacing of the first 'count' frames)");
        else if (auto first = readInterval(job, "first_interval"))
            tx.firstInterval = *first;
    } else if (job.has("first_interval")) {
        job.error("first_interval", "'first_interval' needs 'count' (how many frames go at that spacing)");
    }
    if (job.has("interval")) {
        if (auto interval = readInterval(job, "interval")) tx.interval = *interval;
    } else if (!job.has("count")) {
        job.errors().add(item, "a transmit job needs 'interval' (or 'count' and 'first_interval')");
    }
    if (id) {
        tx.frame.id = *id;
        if (!ids.insert(*id).second)
            job.error("id", fmt::format("id {} has two transmit jobs (one job per id)", idText(*id)));
    }
    options.transmit.push_back(tx);
}

void parseReceive(OptionReader &reader, const YAML::Node &item, BcmOptions &options, std::set<uint32_t> &ids)
{
    OptionReader job(item, reader.errors(), "receive");
    job.reportUnknownKeys(kReceiveKeys);
    BcmRxJob rx;
    auto id = readId(job, "receive");
    rx.fd = readJobFd(job, options.fd);
    const size_t maxLength = rx.fd ? 64 : 8;
    if (auto text = job.string("mask")) {
        std::string why;
        auto mask = parseHexBytes(*text, why);
        if (!mask)
            job.error("mask", fmt::format("'mask' is not hex bytes (\"FF 00 00 00\"): {}", why));
        else if (mask->empty() || mask->size() > maxLength)
            job.error("mask", fmt::format("'mask' has {} bytes: 1 to {} for a {} job", mask->size(), maxLength,
                                          rx.fd ? "CAN FD" : "classic CAN"));
        else
            rx.mask = std::move(*mask);
    }
    std::optional<bool> changesOnly = job.boolean("changes_only");
    if (changesOnly && !*changesOnly && job.has("mask"))
        job.error("changes_only", "a 'mask' delivers only changes: remove 'mask' or 'changes_only: false'");
    if (changesOnly.value_or(false) && !job.has("mask")) rx.mask = std::vector<uint8_t>(maxLength, 0xff);
    if (job.has("throttle"))
        if (auto throttle = readInterval(job, "throttle")) rx.throttle = *throttle;
    if (job.has("timeout"))
        if (auto timeout = readInterval(job, "timeout")) rx.timeout = *timeout;
    if (id) {
        rx.id = *id;
        if (!ids.insert(*id).second)
            job.error("id", fmt::format("id {} has two receive jobs (one job per id)", idText(*id)));
    }
    options.receive.push_back(std::move(rx));
}

}  // namespace

std::span<const KeySpec> canBcmListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parseCanBcmListener(OptionReader &reader)
{
    auto spec = std::make_unique<CanBcmListenerSpec>();
    BcmOptions &options = spec->options;
    auto interface = reader.string("interface");
    if (!interface) {
        if (!reader.has("interface"))
            reader.errors().add(reader.map(), "a can-bcm listener needs 'interface: NAME' (vcan0, can0)");
        return nullptr;
    }
    if (interface->empty() || interface->size() >= IFNAMSIZ || interface->find_first_of("/ \t:") != std::string::npos ||
        *interface == "any")
        reader.error("interface", fmt::format("'{}' is not a network interface name", *interface));
    options.interface = *interface;
    options.fd = reader.boolean("fd").value_or(false);
    options.wait = reader.boolean("wait").value_or(false);
    std::set<uint32_t> txIds, rxIds;
    for (auto [key, parse, ids] : {std::tuple{"transmit", &parseTransmit, &txIds},
                                   std::tuple{"receive", &parseReceive, &rxIds}}) {
        YAML::Node list = reader.node(key);
        if (!list.IsDefined()) continue;
        if (!list.IsSequence()) {
            reader.error(key, fmt::format("'{}' must be a list of jobs", key));
            continue;
        }
        for (const auto &item : list) {
            if (!item.IsMap())
                reader.errors().add(item, fmt::format("each '{}' job must be a map", key));
            else
                parse(reader, item, options, *ids);
        }
    }
    return spec;
}

}  // namespace sockbridge
