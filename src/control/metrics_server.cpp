// SPDX-License-Identifier: MIT
// MetricsServer: answers GET /metrics with the counters in Prometheus text format, then closes.
#include "control/metrics_server.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "core/listener.h"
#include "core/log.h"

namespace sockbridge {

MetricsServer::MetricsServer(EventLoop &loop, const Manager &manager)
    : loop_(loop), report_(manager), acceptPause_(loop), reap_(loop.makeDeferred([this] { closing_.clear(); }))
{
}

MetricsServer::~MetricsServer() = default;

void MetricsServer::open(const SocketAddress &address)
{
    name_ = address.toString();
    UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int on = 1;
    if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        ::bind(fd.get(), address.get(), address.length) < 0 || ::listen(fd.get(), 16) < 0)
        throw StartupError(fmt::format("Failed to listen on '{}' for metrics: {}", name_, std::strerror(errno)));
    fd_ = std::move(fd);
    watch_ = loop_.watchIo(fd_.get(), kReadable, [this](uint32_t) { acceptClients(); });
    logf(LogLevel::Info, "Metrics on http://{}/metrics", name_);
}

void MetricsServer::acceptClients()
{
    for (int i = 0; i < 16; ++i) {
        UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            const bool shortage = AcceptPause::isShortage(errno);
            if (shortage ? acceptPause_.pause(*watch_) : errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                logf(LogLevel::Warning, "Failed to accept a metrics client on '{}': {}{}", name_,
                     std::strerror(errno), shortage ? "; accepting paused" : ", ignoring");
            return;
        }
        acceptPause_.accepted();
        if (clients_.size() >= kMaxClients) continue;  // closed by UniqueFd
        const uint64_t id = nextId_++;
        auto client = std::make_unique<Client>();
        Client *raw = client.get();
        StreamConnection::Handlers handlers;
        handlers.onMessages = [this, raw](StreamConnection &, std::vector<Payload> &chunks) {
            handleBytes(*raw, chunks);
        };
        handlers.onEndOfInput = [raw](StreamConnection &connection) {
            if (!raw->answered) connection.close("");
        };
        handlers.onClosed = [this, id](StreamConnection &, const std::string &) { forget(id); };
        client->connection = std::make_unique<StreamConnection>(loop_, std::move(fd), "metrics", id,
                                                                *findFormat("raw"), FormatOptions{}, false, false,
                                                                std::move(handlers));
        client->timeout = loop_.makeTimer([raw] { raw->connection->close("request timeout"); });
        client->timeout->arm(kRequestTimeout);
        clients_.emplace(id, std::move(client));
    }
}

void MetricsServer::forget(uint64_t id)
{
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    it->second->timeout->disarm();
    closing_.push_back(std::move(it->second));
    clients_.erase(it);
    reap_->schedule();
}

void MetricsServer::handleBytes(Client &client, const std::vector<Payload> &chunks)
{
    if (client.answered) return;
    for (const auto &chunk : chunks) client.request.append(chunk.begin(), chunk.end());
    size_t end = client.request.find("\r\n\r\n");
    if (end == std::string::npos) end = client.request.find("\n\n");
    if (end == std::string::npos) {
        if (client.request.size() > kMaxRequest)
            respond(client, "431 Request Header Fields Too Large", "text/plain", "request too large\n");
        return;
    }
    std::string line = client.request.substr(0, client.request.find_first_of("\r\n"));
    std::string method = line.substr(0, line.find(' '));
    std::string target = line.size() > method.size() ? line.substr(method.size() + 1) : "";
    target = target.substr(0, target.find(' '));
    if (method != "GET" && method != "HEAD") {
        respond(client, "405 Method Not Allowed", "text/plain", "only GET\n");
        return;
    }
    if (target != "/metrics" && !target.starts_with("/metrics?")) {
        respond(client, "404 Not Found", "text/plain", "sockbridged serves /metrics only\n");
        return;
    }
    std::string body = report_.prometheus();
    if (method == "HEAD") body.clear();
    respond(client, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
}

void MetricsServer::respond(Client &client, const std::string &status, const std::string &contentType,
                            const std::string &body)
{
    client.answered = true;
    Message message;
    std::string head = fmt::format("HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                   status, contentType, body.size());
    message.data.assign(head.begin(), head.end());
    message.data.insert(message.data.end(), body.begin(), body.end());
    client.connection->send(message);
    client.connection->closeWhenDrained();
}

}  // namespace sockbridge
