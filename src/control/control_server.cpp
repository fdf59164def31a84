// SPDX-License-Identifier: MIT
// ControlServer: accepts sockbridgectl clients, answers status/stats/reload, streams taps.
#include "control/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "config/did_you_mean.h"
#include "core/log.h"
#include "core/net_address.h"

namespace sockbridge {

namespace {

StartupError controlError(const std::string &path, const std::string &why)
{
    return StartupError(fmt::format("Failed to open the control socket '{}': {}", path, why));
}

// A socket file left by a daemon that died is replaced; a live one means another daemon owns it.
void clearStale(const SocketAddress &address)
{
    const std::string path = address.toString();
    struct stat existing;
    if (::lstat(path.c_str(), &existing) < 0) {
        if (errno == ENOENT) return;
        throw controlError(path, std::strerror(errno));
    }
    if (!S_ISSOCK(existing.st_mode)) throw controlError(path, "it exists and is not a socket");
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe) throw controlError(path, std::strerror(errno));
    if (::connect(probe.get(), address.get(), address.length) == 0 || errno == EAGAIN)
        throw controlError(path, "another sockbridged is serving it");
    if (::unlink(path.c_str()) < 0 && errno != ENOENT)
        throw controlError(path, fmt::format("cannot remove the stale socket file: {}", std::strerror(errno)));
}

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const std::vector<uint8_t> &data, size_t limit)
{
    std::string out;
    size_t n = std::min(data.size(), limit);
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out += kHex[data[i] >> 4];
        out += kHex[data[i] & 15];
    }
    return out;
}

const FormatKind &linesFormat()
{
    static const FormatKind *format = findFormat("lines");
    return *format;
}

}  // namespace

ControlServer::ControlServer(EventLoop &loop, Manager &manager)
    : loop_(loop), manager_(manager), report_(manager), acceptPause_(loop),
      reap_(loop.makeDeferred([this] { closing_.clear(); })), tapFlush_(loop.makeDeferred([this] { flushTaps(); }))
{
}

ControlServer::~ControlServer()
{
    manager_.setTap(nullptr);
    acceptPause_.cancel();
    watch_.reset();
    fd_.reset();
    struct stat now;
    if (!path_.empty() && ::lstat(path_.c_str(), &now) == 0 && now.st_dev == device_ && now.st_ino == inode_)
        ::unlink(path_.c_str());
}

void ControlServer::open(const std::string &path, mode_t mode, std::optional<gid_t> group)
{
    std::string why;
    auto address = parseUnixAddress(path, why);
    if (!address) throw controlError(path, why);
    // /run/sockbridge is normally made by systemd (RuntimeDirectory=); make it when run by hand.
    if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
        std::string dir = path.substr(0, slash);
        if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
            throw controlError(path, fmt::format("cannot create '{}': {}", dir, std::strerror(errno)));
    }
    clearStale(*address);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw controlError(path, std::strerror(errno));
    // Nobody may connect through looser permissions between bind() and chmod().
    mode_t old = ::umask(0777);
    int rc = ::bind(fd.get(), address->get(), address->length);
    int err = errno;
    ::umask(old);
    if (rc < 0) throw controlError(path, std::strerror(err));
    struct stat created {};
    if (::lstat(path.c_str(), &created) == 0) {
        path_ = path;
        device_ = created.st_dev;
        inode_ = created.st_ino;
    }
    // Only when it differs: the hardened unit filters chown(), and its socket has the group already.
    if (group && *group != created.st_gid && ::chown(path.c_str(), uid_t(-1), *group) < 0)
        throw controlError(path, fmt::format("cannot change its group to {}: {}", *group, std::strerror(errno)));
    if (::chmod(path.c_str(), mode) < 0)
        throw controlError(path, fmt::format("cannot change its mode: {}", std::strerror(errno)));
    mode_ = mode;
    group_ = group ? *group : created.st_gid;
    if (::listen(fd.get(), 16) < 0) throw controlError(path, std::strerror(errno));
    fd_ = std::move(fd);
    watch_ = loop_.watchIo(fd_.get(), kReadable, [this](uint32_t) { acceptClients(); });
    logf(LogLevel::Info, "Control socket on '{}' (mode {:04o})", path, unsigned(mode));
}

void ControlServer::acceptClients()
{
    for (int i = 0; i < 16; ++i) {
        UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            const bool shortage = AcceptPause::isShortage(errno);
            if (shortage ? acceptPause_.pause(*watch_) : errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                logf(LogLevel::Warning, "Failed to accept a control client on '{}': {}{}", path_,
                     std::strerror(errno), shortage ? "; accepting paused" : ", ignoring");
            return;
        }
        acceptPause_.accepted();
        if (std::string why = refusalOf(fd.get()); !why.empty()) {
            logf(LogLevel::Warning, LogFields{.reason = "control refused"}, "Control socket '{}': refusing {}", path_,
                 why);
            continue;  // closed by UniqueFd
        }
        if (clients_.size() >= kMaxClients) {
            logf(LogLevel::Warning, "Control socket '{}': {} clients already, refusing another", path_, kMaxClients);
            continue;  // closed by UniqueFd
        }
        const uint64_t id = nextId_++;
        auto client = std::make_unique<Client>();
        Client *raw = client.get();
        StreamConnection::Handlers handlers;
        handlers.onMessages = [this, raw](StreamConnection &, std::vector<Payload> &lines) {
            for (const auto &line : lines) {
                if (raw->connection->closed()) return;
                handleRequest(*raw, line);
            }
        };
        handlers.onEndOfInput = [raw](StreamConnection &connection) {
            // A tap client's EOF ends the tap; others get their answers first.
            if (!raw->tapping.empty())
                connection.close("");
            else
                connection.closeWhenDrained();
        };
        handlers.onClosed = [this, id](StreamConnection &, const std::string &) { forget(id); };
        handlers.onWritable = [this, raw](StreamConnection &) { flushTap(*raw); };
        FormatOptions options;
        options.maxMessage = 64 * 1024;
        client->connection = std::make_unique<StreamConnection>(loop_, std::move(fd), "control", id, linesFormat(),
                                                                options, false, false, std::move(handlers));
        clients_.emplace(id, std::move(client));
    }
}

std::string ControlServer::refusalOf(int fd) const
{
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) < 0)
        return fmt::format("a client whose credentials cannot be read: {}", std::strerror(errno));
    if (peer.uid == 0 || peer.uid == ::geteuid()) return "";
    if (mode_ & S_IWOTH) return "";
    bool member = peer.gid == group_;
    // Supplementary groups as they were at connect(): how most members of the group are members.
    gid_t groups[256];
    socklen_t groupsLength = sizeof(groups);
    if (!member && ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &groupsLength) == 0)
        for (size_t i = 0; i < groupsLength / sizeof(gid_t); ++i) member |= groups[i] == group_;
    if (member && (mode_ & S_IWGRP)) return "";
    return fmt::format("uid {} (pid {}): not root, not the daemon's user{}", peer.uid, peer.pid,
                       mode_ & S_IWGRP ? fmt::format(" and not in group {}", group_) : std::string());
}

void ControlServer::forget(uint64_t id)
{
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    bool wasTapping = !it->second->tapping.empty();
    closing_.push_back(std::move(it->second));
    clients_.erase(it);
    reap_->schedule();
    if (wasTapping) {
        --tapClients_;
        updateTapHook();
    }
}

void ControlServer::handleRequest(Client &client, const Payload &line)
{
    nlohmann::json request = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
        reply(client, {{"ok", false}, {"error", "a request is one JSON object per line, such as {\"cmd\":\"status\"}"}});
        return;
    }
    reply(client, answer(client, request));
}

nlohmann::json ControlServer::answer(Client &client, const nlohmann::json &request)
{
    const std::string cmd = request.value("cmd", "");
    if (cmd == "status") {
        nlohmann::json out = report_.status();
        out["ok"] = true;
        return out;
    }
    if (cmd == "stats") return {{"ok", true}, {"stats", report_.stats()}};
    if (cmd == "reload") {
        if (!reload_) return {{"ok", false}, {"error", "reload not available in this sockbridged"}};
        ReloadResult result = reload_();
        return {{"ok", result.applied && result.errors.empty()},
                {"applied", result.applied},
                {"summary", result.summary},
                {"errors", result.errors}};
    }
    if (cmd == "tap") {
        const std::string name = request.value("listener", "");
        std::vector<std::string_view> names;
        bool found = false;
        for (const auto &listener : manager_.listeners()) {
            names.push_back(listener->name());
            found |= listener->name() == name;
        }
        if (!found) {
            std::string hint = didYouMean(name, names);
            return {{"ok", false},
                    {"error", fmt::format("no listener named '{}'{}", name,
                                          hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint))}};
        }
        if (client.tapping.empty()) ++tapClients_;
        client.tapping = name;
        updateTapHook();
        return {{"ok", true}, {"listener", name}};
    }
    return {{"ok", false}, {"error", fmt::format("unknown command '{}': status, stats, reload or tap", cmd)}};
}

void ControlServer::reply(Client &client, const nlohmann::json &value)
{
    Message message;
    std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    message.data.assign(text.begin(), text.end());
    client.connection->send(message);
    client.connection->flush();
}

// The data path pays for taps only while someone taps.
void ControlServer::updateTapHook() { manager_.setTap(tapClients_ > 0 ? this : nullptr); }

void ControlServer::observe(const Listener &source, const MessagePtr &message)
{
    bool queued = false;
    for (auto &[id, client] : clients_) {
        if (client->tapping != source.name()) continue;
        if (client->tapQueue.size() >= kTapQueue) {
            ++client->tapDropped;
            continue;
        }
        client->tapQueue.push_back(message);
        queued = true;
    }
    if (queued) tapFlush_->schedule();
}

void ControlServer::flushTaps()
{
    for (auto &[id, client] : clients_)
        if (!client->tapping.empty()) flushTap(*client);
}

void ControlServer::flushTap(Client &client)
{
    StreamConnection &connection = *client.connection;
    if (connection.closed()) return;
    while (!client.tapQueue.empty() && !connection.full()) {
        const Message &m = *client.tapQueue.front();
        nlohmann::json event = {
            {"event", "message"},
            {"listener", m.source},
            {"kind", messageKindName(m.kind)},
            {"timestamp_ns", m.timestampNs},
            {"peer", m.peer},
            {"connection", m.connectionId},
            {"length", m.size()},
            {"data", hex(m.data, kTapBytes)},
        };
        if (m.linkType) event["link_type"] = m.linkType;
        if (m.wireLength) event["wire_length"] = m.wireLength;
        if (m.ifindex) event["ifindex"] = m.ifindex;
        client.tapQueue.pop_front();
        reply(client, event);
        if (connection.closed()) return;
    }
    if (client.tapDropped != client.tapDroppedSent && !connection.full()) {
        reply(client, {{"event", "dropped"}, {"count", client.tapDropped - client.tapDroppedSent}});
        client.tapDroppedSent = client.tapDropped;
    }
}

}  // namespace sockbridge
