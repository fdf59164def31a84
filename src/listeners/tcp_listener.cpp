// SPDX-License-Identifier: MIT
// TcpListener: `type: tcp` — listen (many clients, a limit) or connect (reconnect with backoff).
#include "listeners/tcp_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "build_config.h"
#include "core/stream_listener.h"
#if HAVE_TLS
#include "core/openssl_tls.h"
#endif

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"listen", "HOST:PORT", "", "accept clients on this address (IPv4, [IPv6] or a name); one of listen/connect"},
    {"connect", "HOST:PORT", "", "connect to this address, reconnecting with backoff; one of listen/connect"},
    {"max_clients", "integer", "64", "listen: further clients are refused (closed at once) and counted"},
    {"backlog", "integer", "128", "listen: the kernel's accept queue length"},
    {"nodelay", "bool", "true", "TCP_NODELAY: send small messages at once"},
    {"keepalive", "bool or map", "false", "SO_KEEPALIVE; a map {idle, interval, count} sets TCP_KEEPIDLE etc."},
    {"reconnect", "map", "{initial: 100ms, max: 30s}", "connect: exponential backoff with jitter, bounded by max"},
    {"tls", "map", "off", "TLS on every connection: {certificate, key, ca, verify_client, ...} (a build with OpenSSL)"},
    {"allow", "list of CIDR", "everyone", "listen: only clients in these blocks; others are closed and counted in 'refused'"},
};

constexpr std::string_view kTlsKeys[] = {"certificate", "key",         "ca",          "verify_client",
                                         "verify_server", "server_name", "min_version", "handshake_timeout"};
constexpr std::string_view kTlsVersions[] = {"1.2", "1.3"};

struct Keepalive {
    bool enabled = false;
    int idleSeconds = 0, intervalSeconds = 0, count = 0;  // 0: the kernel's default
};

class TcpListenerSpec final : public ListenerSpec {
public:
    SocketAddress address;
    bool connecting = false;
    unsigned maxClients = 64;
    int backlog = 128;
    bool nodelay = true;
    Keepalive keepalive;
    Backoff backoff;
    AllowList allow;
    std::optional<TlsEndpoint> tls;
    bool verifiesClients = false;  // TLS with client certificates: as good as an allow list

    Transport transport() const override { return Transport::Stream; }
    StreamRole role() const override { return connecting ? StreamRole::Connecting : StreamRole::Accepting; }
    std::unique_ptr<Listener> create(EventLoop &loop) const override;
    void refresh(Listener &listener) const override
    {
        // create() made it a StreamListener; `tls` holds the files as this reload read them.
        if (auto *stream = dynamic_cast<StreamListener *>(&listener); stream && tls) stream->renewTls(tls);
    }
};

void configureSocket(int fd, bool nodelay, const Keepalive &keepalive)
{
    int on = 1;
    if (nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (!keepalive.enabled) return;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    if (keepalive.idleSeconds)
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive.idleSeconds, sizeof(keepalive.idleSeconds));
    if (keepalive.intervalSeconds)
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive.intervalSeconds, sizeof(keepalive.intervalSeconds));
    if (keepalive.count) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &keepalive.count, sizeof(keepalive.count));
}

std::unique_ptr<Listener> TcpListenerSpec::create(EventLoop &loop) const
{
    StreamSocketOps ops;
    const SocketAddress where = address;
    const std::string listenerName = name;
    const int queueLength = backlog;
    ops.localName = where.toString();
    ops.connecting = connecting;
    ops.onDemand = onDemand;
    ops.maxClients = maxClients;
    ops.backoff = backoff;
    ops.allow = allow;
    ops.tls = tls;
    const bool limited = allow.configured() || verifiesClients;
    ops.openListening = [where, listenerName, queueLength, limited]() {
        UniqueFd fd(::socket(where.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int on = 1;
        if (fd) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (!fd || ::bind(fd.get(), where.get(), where.length) < 0 || ::listen(fd.get(), queueLength) < 0)
            throw StartupError(fmt::format("Failed to listen on '{}' for listener '{}': {}", where.toString(),
                                           listenerName, std::strerror(errno)));
        warnWhenExposed(listenerName, where, limited);
        return fd;
    };
    ops.startConnect = [where](int &error) {
        UniqueFd fd(::socket(where.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd || (::connect(fd.get(), where.get(), where.length) < 0 && errno != EINPROGRESS)) {
            error = errno;
            return UniqueFd();
        }
        error = 0;
        return fd;
    };
    const bool delay = nodelay;
    const Keepalive alive = keepalive;
    ops.configure = [delay, alive](int fd) { configureSocket(fd, delay, alive); };
    ops.peerName = [](const sockaddr_storage &storage, socklen_t length) {
        SocketAddress peer;
        peer.storage = storage;
        peer.length = length;
        return peer.toString();
    };
    return std::make_unique<StreamListener>(name, loop, *format, formatOptions, std::move(ops));
}

Keepalive parseKeepalive(OptionReader &reader)
{
    Keepalive keepalive;
    YAML::Node node = reader.node("keepalive");
    if (!node.IsDefined()) return keepalive;
    if (node.IsScalar()) {
        keepalive.enabled = reader.boolean("keepalive").value_or(false);
        return keepalive;
    }
    if (!node.IsMap()) {
        reader.error("keepalive", "'keepalive' must be true, false or a map {idle, interval, count}");
        return keepalive;
    }
    OptionReader options(node, reader.errors(), "keepalive");
    constexpr std::string_view kKeepaliveKeys[] = {"idle", "interval", "count"};
    options.reportUnknownKeys(kKeepaliveKeys);
    keepalive.enabled = true;
    auto seconds = [&](std::string_view key) {
        auto value = options.duration(key);
        if (value && *value < std::chrono::seconds(1)) options.error(key, fmt::format("'{}' must be at least 1s", key));
        return value ? int(std::chrono::duration_cast<std::chrono::seconds>(*value).count()) : 0;
    };
    keepalive.idleSeconds = seconds("idle");
    keepalive.intervalSeconds = seconds("interval");
    keepalive.count = int(options.integer("count", 1, 127).value_or(0));
    return keepalive;
}

#if HAVE_TLS
// The host of `connect: HOST:PORT` when it is a name (not an IP literal): the name the server's
// certificate must carry unless `server_name` says otherwise.
std::string connectHostName(OptionReader &reader)
{
    YAML::Node node = reader.node("connect");
    if (!node.IsScalar()) return "";
    const std::string &text = node.Scalar();
    if (text.empty() || text.front() == '[') return "";
    std::string host = text.substr(0, text.rfind(':'));
    in_addr literal{};
    if (host.empty() || host == "*" || inet_pton(AF_INET, host.c_str(), &literal) == 1) return "";
    return host;
}
#endif

// `tls: {certificate, key, ca, verify_client | verify_server, server_name, min_version,
// handshake_timeout}`; the files are loaded here so that a bad one is a positioned error.
void parseTls(OptionReader &reader, TcpListenerSpec &spec)
{
    YAML::Node node = reader.node("tls");
    if (!node.IsDefined()) return;
#if HAVE_TLS
    if (!node.IsMap()) {
        reader.error("tls", "'tls' must be a map {certificate, key, ca, ...}");
        return;
    }
    OptionReader options(node, reader.errors(), "tls");
    options.reportUnknownKeys(kTlsKeys);
    TlsSettings settings;
    settings.server = !spec.connecting;
    settings.certificate = options.string("certificate").value_or("");
    settings.key = options.string("key").value_or("");
    settings.ca = options.string("ca").value_or("");
    settings.serverName = options.string("server_name").value_or(spec.connecting ? connectHostName(reader) : "");
    settings.minVersion = options.choice("min_version", kTlsVersions).value_or("1.2");
    const std::string_view verifyKey = spec.connecting ? "verify_server" : "verify_client";
    const std::string_view otherKey = spec.connecting ? "verify_client" : "verify_server";
    if (options.has(otherKey))
        options.error(otherKey, fmt::format("'{}' applies only to '{}'", otherKey, spec.connecting ? "listen" : "connect"));
    if (!spec.connecting && options.has("server_name"))
        options.error("server_name", "'server_name' applies only to 'connect'");
    settings.verifyPeer = options.boolean(verifyKey).value_or(spec.connecting);  // a client checks by default
    TlsEndpoint endpoint;
    if (auto timeout = options.duration("handshake_timeout")) {
        if (*timeout < std::chrono::milliseconds(10)) options.error("handshake_timeout", "'handshake_timeout' must be at least 10ms");
        endpoint.handshakeTimeout = *timeout;
    }
    const size_t errorsBefore = reader.errors().list().size();
    if (!spec.connecting && (settings.certificate.empty() || settings.key.empty()))
        reader.error("tls", "'tls' on a listening tcp listener needs 'certificate' and 'key'");
    else if (settings.certificate.empty() != settings.key.empty())
        reader.error("tls", "'tls' needs 'certificate' and 'key' together");
    if (!spec.connecting && settings.verifyPeer && settings.ca.empty())
        options.error("verify_client", "'verify_client: true' needs 'ca': the CA that signs client certificates");
    if (spec.connecting && settings.verifyPeer && settings.ca.empty() && settings.serverName.empty())
        reader.error("tls", "'tls' checking the server against the system's CAs needs 'server_name' (or 'ca'): "
                            "'connect' names an address, and any public certificate would pass");
    if (reader.errors().list().size() != errorsBefore) return;
    std::string why;
    auto context = makeTlsContext(settings, why);
    if (!context) {
        reader.error("tls", fmt::format("bad 'tls': {}", why));
        return;
    }
    endpoint.open = [context](int fd) { return openTlsSession(*context, fd); };
    spec.tls = std::move(endpoint);
    spec.verifiesClients = !spec.connecting && settings.verifyPeer;
#else
    (void)spec;
    reader.error("tls", "'tls' needs a sockbridge built with TLS (OpenSSL): this one was built with -Dtls=disabled "
                        "or without libssl-dev");
#endif
}

}  // namespace

std::span<const KeySpec> tcpListenerKeys() { return kKeys; }

Backoff parseBackoff(OptionReader &reader)
{
    Backoff backoff;
    YAML::Node node = reader.node("reconnect");
    if (!node.IsDefined()) return backoff;
    if (!node.IsMap()) {
        reader.error("reconnect", "'reconnect' must be a map {initial, max}");
        return backoff;
    }
    OptionReader options(node, reader.errors(), "reconnect");
    constexpr std::string_view kBackoffKeys[] = {"initial", "max"};
    options.reportUnknownKeys(kBackoffKeys);
    if (auto initial = options.duration("initial")) backoff.initial = *initial;
    if (auto max = options.duration("max")) backoff.max = *max;
    if (backoff.initial < std::chrono::milliseconds(1))
        options.error("initial", "'initial' must be at least 1ms");
    else if (backoff.max < backoff.initial)
        options.error("max", "'max' must not be shorter than 'initial'");
    return backoff;
}

std::unique_ptr<ListenerSpec> parseTcpListener(OptionReader &reader)
{
    auto spec = std::make_unique<TcpListenerSpec>();
    bool listens = reader.has("listen"), connects = reader.has("connect");
    if (listens && connects) {
        reader.error("connect", "a tcp listener has either 'listen' or 'connect', not both");
        return nullptr;
    }
    if (!listens && !connects) {
        reader.errors().add(reader.map(), "a tcp listener needs 'listen: HOST:PORT' or 'connect: HOST:PORT'");
        return nullptr;
    }
    spec->connecting = connects;
    auto address = reader.inetAddress(connects ? "connect" : "listen");
    if (address && connects && address->port() == 0) reader.error("connect", "'connect' needs a port other than 0");
    if (address) spec->address = *address;
    if (auto n = reader.integer("max_clients", 1, 65536)) spec->maxClients = unsigned(*n);
    if (auto n = reader.integer("backlog", 1, 65535)) spec->backlog = int(*n);
    if (connects && reader.has("max_clients")) reader.error("max_clients", "'max_clients' applies only to 'listen'");
    if (!connects && reader.has("reconnect")) reader.error("reconnect", "'reconnect' applies only to 'connect'");
    if (connects && reader.has("allow")) reader.error("allow", "'allow' applies only to 'listen'");
    if (auto allow = reader.allowList("allow")) spec->allow = std::move(*allow);
    spec->nodelay = reader.boolean("nodelay").value_or(true);
    spec->keepalive = parseKeepalive(reader);
    spec->backoff = parseBackoff(reader);
    parseTls(reader, *spec);
    return address ? std::move(spec) : nullptr;
}

}  // namespace sockbridge
