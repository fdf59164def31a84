// SPDX-License-Identifier: MIT
// MqttClientListener: publishes routed messages (spooled first), subscribes, reconnects with backoff.
#include "listeners/mqtt_client.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>

#include "core/log.h"

namespace sockbridge {

namespace {

// What is waiting to be published: the spool, or (without one) the few messages in flight.
// A record is [u16 big-endian topic length][topic][payload].
class Outbox {
public:
    virtual ~Outbox() = default;
    [[nodiscard]] virtual int append(std::span<const uint8_t> record) = 0;
    [[nodiscard]] virtual bool readNext(std::vector<uint8_t> &out) = 0;
    virtual void rewind() = 0;
    virtual void ackOldest() = 0;
    virtual uint64_t records() const = 0;
    [[nodiscard]] virtual int sync() { return 0; }
};

class MemoryOutbox final : public Outbox {
public:
    int append(std::span<const uint8_t> record) override
    {
        records_.emplace_back(record.begin(), record.end());
        return 0;
    }
    bool readNext(std::vector<uint8_t> &out) override
    {
        if (read_ >= records_.size()) return false;
        out = records_[read_++];
        return true;
    }
    void rewind() override { read_ = 0; }
    void ackOldest() override
    {
        if (read_ == 0) return;
        records_.pop_front();
        --read_;
    }
    uint64_t records() const override { return records_.size(); }

private:
    std::deque<std::vector<uint8_t>> records_;
    size_t read_ = 0;
};

class SpoolOutbox final : public Outbox {
public:
    explicit SpoolOutbox(SpoolOptions options) : spool_(std::move(options)) {}
    int append(std::span<const uint8_t> record) override { return spool_.append(record); }
    bool readNext(std::vector<uint8_t> &out) override { return spool_.readNext(out); }
    void rewind() override { spool_.rewind(); }
    void ackOldest() override { spool_.ackOldest(); }
    uint64_t records() const override { return spool_.records(); }
    int sync() override { return spool_.sync(); }
    const Spool &spool() const { return spool_; }

private:
    Spool spool_;
};

std::vector<uint8_t> makeRecord(const std::string &topic, const std::vector<uint8_t> &payload)
{
    std::vector<uint8_t> record;
    record.reserve(2 + topic.size() + payload.size());
    record.push_back(uint8_t(topic.size() >> 8));
    record.push_back(uint8_t(topic.size()));
    record.insert(record.end(), topic.begin(), topic.end());
    record.insert(record.end(), payload.begin(), payload.end());
    return record;
}

std::string hostName()
{
    char name[256] = "";
    if (::gethostname(name, sizeof(name) - 1) < 0) return "localhost";
    return name;
}

struct MosquittoDeleter {
    void operator()(mosquitto *client) const { mosquitto_destroy(client); }
};

std::string mosquittoError(int rc)
{
    return rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc);
}

class MqttClientListener final : public Listener {
public:
    MqttClientListener(std::string name, EventLoop &loop, MqttSettings settings, const FormatKind &format,
                       const FormatOptions &options)
        : Listener(std::move(name), loop),
          settings_(std::move(settings)),
          format_(format),
          options_(options),
          encoder_(format.makeEncoder(options)),
          decoder_(format.makeDecoder(options)),
          hostname_(hostName()),
          backoff_(settings_.backoff),
          reconnectTimer_(loop.makeTimer([this] { connectNow(); })),
          connectTimer_(loop.makeTimer([this] { lose("no CONNACK from the broker within connect_timeout"); })),
          miscTimer_(loop.makeTimer([this] { housekeeping(); })),
          handleLoss_(loop.makeDeferred([this] { handleLoss(); }))
    {
        static std::once_flag initialized;
        std::call_once(initialized, [] { mosquitto_lib_init(); });
        if (settings_.clientId.empty()) settings_.clientId = fmt::format("sockbridge-{}-{}", hostname_, this->name());
    }

    ~MqttClientListener() override
    {
        if (client_ && connected_) mosquitto_disconnect(client_.get());  // written at once: not in a callback
        watch_.reset();
        ioFd_.reset();
    }

    void start() override
    {
        try {
            if (settings_.spool) {
                auto spool = std::make_unique<SpoolOutbox>(*settings_.spool);
                spoolOutbox_ = spool.get();
                outbox_ = std::move(spool);
                const Spool &s = spoolOutbox_->spool();
                if (s.records() || s.corruptTails())
                    logf(LogLevel::Notice, "Listener '{}': spool '{}' holds {} messages ({} bytes){}", name(),
                         settings_.spool->directory, s.records(), s.bytes(),
                         s.corruptTails() ? fmt::format("; truncated {} bytes of {} corrupt tail(s)",
                                                        s.truncatedBytes(), s.corruptTails())
                                          : "");
            } else {
                outbox_ = std::make_unique<MemoryOutbox>();
            }
        } catch (const SpoolError &e) {
            throw StartupError(fmt::format("Listener '{}': {}", name(), e.what()));
        }
        connectNow();
    }

    void stopReading() override { reading_ = false; }
    void resumeReading() override
    {
        reading_ = true;
        pausedReading_ = false;
        updateWatch();
    }

    std::string describe() const override
    {
        std::string text = fmt::format("broker {}:{} {} as '{}', topic '{}', qos {}", settings_.host, settings_.port,
                                       connected_ ? "connected" : "not connected", settings_.clientId,
                                       settings_.topic.text(), settings_.qos);
        if (!settings_.subscribe.empty()) text += fmt::format(", {} subscriptions", settings_.subscribe.size());
        if (spoolOutbox_)
            text += fmt::format(", spool {}: {} messages", settings_.spool->directory, spoolOutbox_->spool().records());
        return text;
    }

    std::vector<std::string> peers() const override
    {
        if (!connected_) return {};
        return {fmt::format("{}:{}", settings_.host, settings_.port)};
    }

    std::vector<std::pair<std::string, uint64_t>> extraCounters() const override
    {
        std::vector<std::pair<std::string, uint64_t>> extra = {{"in_flight", inflight_.size()}};
        if (spoolOutbox_) {
            const Spool &s = spoolOutbox_->spool();
            extra.insert(extra.end(), {{"spooled", spooled_},
                                       {"spool_messages", s.records()},
                                       {"spool_bytes", s.bytes()},
                                       {"spool_dropped", spoolDropped_},
                                       {"spool_corrupt_tails", s.corruptTails()},
                                       {"spool_truncated_bytes", s.truncatedBytes()}});
        }
        return extra;
    }

protected:
    void drain() override
    {
        if (!outbox_) return;
        // With a spool everything is taken and kept on disk; without one only what can be sent
        // now, and the rest waits in the route queues under their limits.
        while (spoolOutbox_ || (connected_ && outbox_->records() < settings_.maxInflight)) {
            MessagePtr message = nextInput();
            if (!message) break;
            store(*message);
        }
        if (int rc = outbox_->sync(); rc < 0) {
            ++counters().errors;
            logf(LogLevel::Warning, "Listener '{}': Failed to sync the spool: {}", name(), std::strerror(-rc));
        }
        publishPending();
    }

    bool flushed() const override { return !connected_ || !outbox_ || outbox_->records() == 0; }

private:
    struct InFlight {
        int mid = 0;
        size_t bytes = 0;
        bool acked = false;
        bool refused = false;  // mosquitto_publish() refused it: dropped, not sent
    };

    void store(const Message &message)
    {
        payload_.clear();
        if (!encoder_->encode(message, payload_)) {
            ++counters().errors;
            logf(LogLevel::Debug, "Listener '{}': format '{}' cannot carry a {} message", name(), format_.name,
                 messageKindName(message.kind));
            return;
        }
        std::string topic = settings_.topic.render(message, hostname_);
        if (topic.size() > 0xFFFF) {  // MQTT's limit, and the record's u16
            ++counters().errors;
            logf(LogLevel::Debug, "Listener '{}': a topic of {} bytes is longer than MQTT allows", name(),
                 topic.size());
            return;
        }
        std::vector<uint8_t> record = makeRecord(topic, payload_);
        int rc = outbox_->append(record);
        if (rc == 0) {
            if (spoolOutbox_) ++spooled_;
            return;
        }
        ++counters().drops;
        if (rc == -ENOSPC) ++spoolDropped_;
        if (!warnedFull_ || rc != -ENOSPC)
            logf(LogLevel::Warning, "Listener '{}': dropping messages: {}", name(),
                 rc == -ENOSPC ? fmt::format("the spool is full ({} bytes)", settings_.spool->maxBytes)
                               : fmt::format("Failed to write to the spool: {}", std::strerror(-rc)));
        warnedFull_ = warnedFull_ || rc == -ENOSPC;
    }

    void publishPending()
    {
        while (connected_ && !lostReason_ && inflight_.size() < settings_.maxInflight && outbox_->readNext(record_)) {
            if (record_.size() < 2) record_.assign(2, 0);  // not written by store(): an empty topic, refused below
            const size_t topicLength = std::min(size_t(record_[0]) << 8 | record_[1], record_.size() - 2);
            std::string topic(record_.begin() + 2, record_.begin() + 2 + ptrdiff_t(topicLength));
            const size_t offset = 2 + topicLength;
            const size_t bytes = record_.size() - offset;
            int mid = 0;
            int rc = mosquitto_publish(client_.get(), &mid, topic.c_str(), int(bytes), record_.data() + offset,
                                       settings_.qos, settings_.retain);
            if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
                lose(mosquittoError(rc));
                break;
            }
            if (rc != MOSQ_ERR_SUCCESS) {
                // A message the broker can never take (too large, a topic not UTF-8): dropped.
                ++counters().errors;
                logf(LogLevel::Warning, "Listener '{}': dropping a message for '{}': {}", name(), topic,
                     mosquittoError(rc));
                inflight_.push_back({0, 0, true, true});
                continue;
            }
            inflight_.push_back({mid, bytes, earlyAcks_.erase(mid) > 0, false});
        }
        settleAcks();
        updateWatch();
    }

    // Acknowledged messages leave the outbox in order: the oldest first.
    // Room in the window takes more from the routes on the next pass (a QoS 0 message is often
    // acknowledged inside mosquitto_publish(), with no later event to wake the listener).
    void settleAcks()
    {
        bool settled = false;
        while (!inflight_.empty() && inflight_.front().acked) {
            if (!inflight_.front().refused) counters().countOut(inflight_.front().bytes);
            inflight_.pop_front();
            outbox_->ackOldest();
            settled = true;
        }
        if (settled && (hasInput() || outbox_->records() > 0)) notifyInput();
    }

    void onPublished(int mid)
    {
        for (auto &entry : inflight_) {
            if (entry.mid != mid || entry.acked) continue;
            entry.acked = true;
            settleAcks();
            return;
        }
        earlyAcks_.insert(mid);  // QoS 0 is acknowledged inside mosquitto_publish(), before it returns the mid
    }

    void onMessage(const mosquitto_message &message)
    {
        std::string_view topic = message.topic ? message.topic : "";
        bool allowed = false;
        for (const auto &filter : settings_.subscribe) allowed = allowed || topicMatchesFilter(filter, topic);
        if (!reading_ || !allowed) {
            ++counters().drops;
            logf(LogLevel::Debug, "Listener '{}': ignoring a message on '{}'{}", name(), topic,
                 allowed ? " while stopping" : ": no 'subscribe' filter matches");
            return;
        }
        std::vector<Payload> payloads;
        auto *bytes = static_cast<const uint8_t *>(message.payload);
        bool ok = decoder_->feed({bytes, size_t(message.payloadlen)}, payloads) && decoder_->finish(payloads);
        if (!ok) {
            ++counters().errors;
            logf(LogLevel::Warning, LogFields{.listener = name(), .peer = std::string(topic), .reason = "bad message"},
                 "Listener '{}': dropping a message on '{}': {}", name(), topic, decoder_->error());
            decoder_ = format_.makeDecoder(options_);
        }
        const int64_t now = realtimeNowNs();
        for (auto &payload : payloads) {
            Message out;
            out.kind = format_.messageKind.value_or(MessageKind::Datagram);
            out.linkType = format_.linkType;
            out.data = std::move(payload);
            out.timestampNs = now;
            out.peer = std::string(topic);
            emit(std::move(out));
        }
        if (!mayRead()) pausedReading_ = true;  // a full 'block' route: the broker waits (TCP)
    }

    void onConnected(int rc)
    {
        if (rc != 0) {
            lose(fmt::format("the broker refused the connection: {}", mosquitto_connack_string(rc)));
            return;
        }
        connectTimer_->disarm();
        connected_ = true;
        ++counters().connects;
        if (everConnected_) ++counters().reconnects;
        everConnected_ = true;
        backoff_.reset();
        logf(LogLevel::Info, "Listener '{}': connected to the broker {}:{} as '{}'", name(), settings_.host,
             settings_.port, settings_.clientId);
        for (const auto &filter : settings_.subscribe) {
            int subscribed = mosquitto_subscribe(client_.get(), nullptr, filter.c_str(), settings_.qos);
            if (subscribed != MOSQ_ERR_SUCCESS) {
                lose(fmt::format("Failed to subscribe to '{}': {}", filter, mosquittoError(subscribed)));
                return;
            }
        }
        notifyInput();
    }

    void connectNow()
    {
        dropClient();
        client_.reset(mosquitto_new(settings_.clientId.c_str(), settings_.cleanSession, this));
        if (!client_) {
            lose(fmt::format("Failed to create a client: {}", std::strerror(errno)));
            return;
        }
        mosquitto *client = client_.get();
        mosquitto_int_option(client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        mosquitto_int_option(client, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_max_inflight_messages_set(client, settings_.maxInflight);
        mosquitto_connect_callback_set(client, [](mosquitto *, void *self, int rc) {
            static_cast<MqttClientListener *>(self)->onConnected(rc);
        });
        mosquitto_disconnect_callback_set(client, [](mosquitto *, void *self, int rc) {
            static_cast<MqttClientListener *>(self)->lose(rc == 0 ? "disconnected" : mosquittoError(rc));
        });
        mosquitto_publish_callback_set(client, [](mosquitto *, void *self, int mid) {
            static_cast<MqttClientListener *>(self)->onPublished(mid);
        });
        mosquitto_message_callback_set(client, [](mosquitto *, void *self, const mosquitto_message *message) {
            static_cast<MqttClientListener *>(self)->onMessage(*message);
        });
        int rc = MOSQ_ERR_SUCCESS;
        if (settings_.username)
            rc = mosquitto_username_pw_set(client, settings_.username->c_str(),
                                           settings_.password ? settings_.password->c_str() : nullptr);
        if (rc == MOSQ_ERR_SUCCESS && settings_.tls) rc = configureTls(client);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_connect_bind_async(client, settings_.host.c_str(), settings_.port,
                                              int(settings_.keepalive.count()), nullptr);
        if (rc != MOSQ_ERR_SUCCESS) {
            lose(mosquittoError(rc));
            return;
        }
        // libmosquitto closes its socket itself when the connection fails, before telling us: the
        // loop watches a duplicate of it, which stays valid until the watch is gone.
        ioFd_ = UniqueFd(::fcntl(mosquitto_socket(client), F_DUPFD_CLOEXEC, 0));
        if (!ioFd_) {
            lose(fmt::format("Failed to duplicate the client's socket: {}", std::strerror(errno)));
            return;
        }
        watch_ = loop().watchIo(ioFd_.get(), kReadable, [this](uint32_t events) { onIo(events); });
        connectTimer_->arm(settings_.connectTimeout);
        miscTimer_->arm(std::chrono::seconds(1));
        updateWatch();
    }

    int configureTls(mosquitto *client)
    {
        const MqttTls &tls = *settings_.tls;
        auto orNull = [](const std::string &text) { return text.empty() ? nullptr : text.c_str(); };
        int rc = mosquitto_tls_set(client, orNull(tls.caFile), orNull(tls.caPath), orNull(tls.certFile),
                                   orNull(tls.keyFile), nullptr);
        if (rc == MOSQ_ERR_SUCCESS && tls.insecure) rc = mosquitto_tls_insecure_set(client, true);
        return rc;
    }

    void onIo(uint32_t events)
    {
        mosquitto *client = client_.get();
        // A TLS handshake advances in loop_read, whichever way the socket became ready.
        int rc = mosquitto_loop_read(client, 1);
        if (rc == MOSQ_ERR_SUCCESS && !lostReason_ && ((events & kWritable) || mosquitto_want_write(client)))
            rc = mosquitto_loop_write(client, 1);
        if (rc != MOSQ_ERR_SUCCESS && !lostReason_) lose(mosquittoError(rc));
        if (!lostReason_) updateWatch();
    }

    void housekeeping()
    {
        if (!client_) return;
        int rc = mosquitto_loop_misc(client_.get());  // keepalive pings, a broker that stopped answering
        if (rc != MOSQ_ERR_SUCCESS && !lostReason_) lose(mosquittoError(rc));
        if (lostReason_) return;
        updateWatch();
        miscTimer_->arm(std::chrono::seconds(1));
    }

    void updateWatch()
    {
        if (!watch_ || !client_) return;
        uint32_t events = pausedReading_ ? 0u : uint32_t(kReadable);
        if (mosquitto_want_write(client_.get())) events |= kWritable;
        if (watch_->events() != events) watch_->setEvents(events);
    }

    // Called from libmosquitto's callbacks too, so the client is freed later, not here.
    void lose(std::string why)
    {
        if (lostReason_) return;
        lostReason_ = std::move(why);
        connected_ = false;
        if (watch_) watch_->setEvents(0);
        handleLoss_->schedule();
    }

    void handleLoss()
    {
        if (!lostReason_) return;
        std::string why = std::move(*lostReason_);
        dropClient();
        auto delay = backoff_.nextDelay();
        if (backoff_.worthLogging())
            logf(LogLevel::Warning, "Listener '{}': no connection to the broker {}:{} ({} attempts): {}; retrying "
                 "in {:.3f}s", name(), settings_.host, settings_.port, backoff_.failures(), why,
                 double(delay.count()) / 1e9);
        reconnectTimer_->arm(delay);
    }

    // What was in flight is published again, in order, on the next connection.
    void dropClient()
    {
        watch_.reset();
        ioFd_.reset();
        client_.reset();
        connectTimer_->disarm();
        miscTimer_->disarm();
        connected_ = false;
        lostReason_.reset();
        inflight_.clear();
        earlyAcks_.clear();
        pausedReading_ = false;
        if (outbox_) outbox_->rewind();
    }

    MqttSettings settings_;
    const FormatKind &format_;
    FormatOptions options_;
    std::unique_ptr<Encoder> encoder_;
    std::unique_ptr<Decoder> decoder_;
    std::string hostname_;
    BackoffSchedule backoff_;

    std::unique_ptr<Outbox> outbox_;
    SpoolOutbox *spoolOutbox_ = nullptr;  // outbox_ when it is a spool
    std::deque<InFlight> inflight_;
    std::set<int> earlyAcks_;
    std::vector<uint8_t> payload_, record_;

    std::unique_ptr<mosquitto, MosquittoDeleter> client_;
    UniqueFd ioFd_;  // a duplicate of the client's socket, declared before its watch: the watch goes first
    std::unique_ptr<IoWatch> watch_;
    std::unique_ptr<Timer> reconnectTimer_;
    std::unique_ptr<Timer> connectTimer_;
    std::unique_ptr<Timer> miscTimer_;
    std::unique_ptr<Deferred> handleLoss_;
    std::optional<std::string> lostReason_;
    bool connected_ = false;
    bool everConnected_ = false;
    bool reading_ = true;
    bool pausedReading_ = false;
    bool warnedFull_ = false;
    uint64_t spooled_ = 0;
    uint64_t spoolDropped_ = 0;
};

}  // namespace

std::unique_ptr<Listener> makeMqttListener(std::string name, EventLoop &loop, MqttSettings settings,
                                           const FormatKind &format, const FormatOptions &options)
{
    return std::make_unique<MqttClientListener>(std::move(name), loop, std::move(settings), format, options);
}

}  // namespace sockbridge
