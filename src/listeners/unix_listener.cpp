// SPDX-License-Identifier: MIT
// UnixListener: `type: unix` — stream, dgram or seqpacket sockets on a path or an abstract @name.
#include "listeners/unix_listener.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/datagram_listener.h"
#include "core/log.h"
#include "core/stream_listener.h"
#include "listeners/tcp_listener.h"

namespace sockbridge {

namespace {

const KeySpec kKeys[] = {
    {"listen", "PATH|@name", "", "bind this path or abstract @name (stream, seqpacket: accept clients); one of listen/connect"},
    {"connect", "PATH|@name", "", "connect (stream, seqpacket) or send (dgram) to this socket; one of listen/connect"},
    {"socket", "stream|dgram|seqpacket", "stream", "the socket type"},
    {"mode", "octal string", "(umask)", "listen on a path: the socket file's permissions, such as \"0660\""},
    {"owner", "user name or uid", "(unchanged)", "listen on a path: the socket file's owner"},
    {"group", "group name or gid", "(unchanged)", "listen on a path: the socket file's group"},
    {"max_clients", "integer", "64", "stream, seqpacket listen: further clients are refused (closed at once) and counted"},
    {"reconnect", "map", "{initial: 100ms, max: 30s}", "stream, seqpacket connect: exponential backoff with jitter"},
};

constexpr std::string_view kSocketChoices[] = {"stream", "dgram", "seqpacket"};
constexpr int kBacklog = 128;

struct FileAccess {
    std::optional<mode_t> mode;
    std::optional<uid_t> owner;
    std::optional<gid_t> group;
};

class UnixListenerSpec final : public ListenerSpec {
public:
    SocketAddress address;
    bool connecting = false;
    int socketType = SOCK_STREAM;
    FileAccess access;
    unsigned maxClients = 64;
    Backoff backoff;

    Transport transport() const override
    {
        if (socketType == SOCK_DGRAM) return Transport::Datagram;
        return socketType == SOCK_SEQPACKET ? Transport::SeqPacket : Transport::Stream;
    }
    StreamRole role() const override
    {
        if (socketType == SOCK_DGRAM) return StreamRole::None;
        return connecting ? StreamRole::Connecting : StreamRole::Accepting;
    }
    std::unique_ptr<Listener> create(EventLoop &loop) const override;

private:
    std::unique_ptr<Listener> createStream(EventLoop &loop) const;
    std::unique_ptr<Listener> createDatagram(EventLoop &loop) const;
};

bool isFilesystemPath(const SocketAddress &address)
{
    std::string text = address.toString();
    return !text.empty() && text.front() != '@';
}

// The socket file a listener bound. It lives in the listener's socket ops, so it goes when the
// listener does; a file some other process has put there since is left alone.
class SocketFile {
public:
    SocketFile() = default;
    SocketFile(const SocketFile &) = delete;
    SocketFile &operator=(const SocketFile &) = delete;
    ~SocketFile()
    {
        struct stat now;
        if (!path_.empty() && ::lstat(path_.c_str(), &now) == 0 && now.st_dev == device_ && now.st_ino == inode_)
            ::unlink(path_.c_str());
    }

    void bound(const std::string &path)
    {
        struct stat created;
        if (::lstat(path.c_str(), &created) < 0) return;
        path_ = path;
        device_ = created.st_dev;
        inode_ = created.st_ino;
    }

private:
    std::string path_;
    dev_t device_ = 0;
    ino_t inode_ = 0;
};

StartupError listenError(const std::string &path, const std::string &listenerName, const std::string &why)
{
    return StartupError(fmt::format("Failed to listen on '{}' for listener '{}': {}", path, listenerName, why));
}

// A socket file left by a process that died is removed; a live one (or anything that is not a
// socket) makes the listener fail instead of taking the path from its owner.
void clearStaleSocket(const SocketAddress &address, int type, const std::string &listenerName)
{
    const std::string path = address.toString();
    struct stat existing;
    if (::lstat(path.c_str(), &existing) < 0) {
        if (errno == ENOENT) return;
        throw listenError(path, listenerName, std::strerror(errno));
    }
    if (!S_ISSOCK(existing.st_mode)) throw listenError(path, listenerName, "it exists and is not a socket");
    UniqueFd probe(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe) throw listenError(path, listenerName, std::strerror(errno));
    // EAGAIN: a full accept queue; EPROTOTYPE: bound, but as another socket type. Both are alive.
    if (::connect(probe.get(), address.get(), address.length) == 0 || errno == EAGAIN || errno == EPROTOTYPE)
        throw listenError(path, listenerName, "a running process is listening on it");
    if (errno != ECONNREFUSED)
        throw listenError(path, listenerName, fmt::format("cannot tell whether it is in use: {}", std::strerror(errno)));
    if (::unlink(path.c_str()) < 0 && errno != ENOENT)
        throw listenError(path, listenerName, fmt::format("cannot remove the stale socket file: {}", std::strerror(errno)));
    logf(LogLevel::Info, "Listener '{}': removed stale socket file '{}'", listenerName, path);
}

// Bound (and for stream and seqpacket, listening), with the file's owner and mode set first so
// no client can connect through looser permissions.
UniqueFd openListening(const SocketAddress &address, int type, const FileAccess &access,
                       const std::string &listenerName, SocketFile &file)
{
    const std::string path = address.toString();
    const bool onFilesystem = isFilesystemPath(address);
    if (onFilesystem) clearStaleSocket(address, type, listenerName);
    UniqueFd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd || ::bind(fd.get(), address.get(), address.length) < 0)
        throw listenError(path, listenerName, std::strerror(errno));
    if (onFilesystem) {
        file.bound(path);
        if ((access.owner || access.group) &&
            ::chown(path.c_str(), access.owner.value_or(uid_t(-1)), access.group.value_or(gid_t(-1))) < 0)
            throw listenError(path, listenerName, fmt::format("cannot change its owner: {}", std::strerror(errno)));
        if (access.mode && ::chmod(path.c_str(), *access.mode) < 0)
            throw listenError(path, listenerName, fmt::format("cannot change its mode: {}", std::strerror(errno)));
    }
    if (type != SOCK_DGRAM && ::listen(fd.get(), kBacklog) < 0)
        throw listenError(path, listenerName, std::strerror(errno));
    return fd;
}

std::unique_ptr<Listener> UnixListenerSpec::create(EventLoop &loop) const
{
    return socketType == SOCK_DGRAM ? createDatagram(loop) : createStream(loop);
}

std::unique_ptr<Listener> UnixListenerSpec::createStream(EventLoop &loop) const
{
    StreamSocketOps ops;
    ops.localName = address.toString();
    ops.connecting = connecting;
    ops.onDemand = onDemand;
    ops.messageMode = socketType == SOCK_SEQPACKET;
    ops.maxClients = maxClients;
    ops.backoff = backoff;
    auto file = std::make_shared<SocketFile>();
    ops.openListening = [address = address, type = socketType, access = access, listenerName = name, file]() {
        return openListening(address, type, access, listenerName, *file);
    };
    ops.startConnect = [address = address, type = socketType](int &error) {
        UniqueFd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        // A unix connect completes at once or fails; EAGAIN is a full accept queue: retry later.
        if (!fd || (::connect(fd.get(), address.get(), address.length) < 0 && errno != EINPROGRESS)) {
            error = errno;
            return UniqueFd();
        }
        error = 0;
        return fd;
    };
    ops.configure = [](int) {};
    ops.peerName = [](const sockaddr_storage &storage, socklen_t length) {
        SocketAddress peer;
        peer.storage = storage;
        peer.length = length;
        return peer.toString();  // "" for the usual unnamed client
    };
    // seqpacket keeps message boundaries: each read is one whole message.
    MessageKind messages = socketType == SOCK_SEQPACKET ? MessageKind::Datagram : MessageKind::Bytes;
    return std::make_unique<StreamListener>(name, loop, *format, formatOptions, std::move(ops), messages);
}

std::unique_ptr<Listener> UnixListenerSpec::createDatagram(EventLoop &loop) const
{
    DatagramSocketOps ops;
    ops.localName = address.toString();
    if (connecting) {
        ops.peer = address;
        ops.localName = "an autobound address";  // describe() adds " → PEER"
        ops.open = [address = address, listenerName = name]() {
            UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            // Autobind: the kernel gives us an abstract name, so the peer can reply.
            sockaddr_storage unnamed{};
            unnamed.ss_family = AF_UNIX;
            if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr *>(&unnamed), sizeof(sa_family_t)) < 0)
                throw StartupError(fmt::format("Failed to bind a socket to send to '{}' for listener '{}': {}",
                                               address.toString(), listenerName, std::strerror(errno)));
            SocketAddress own;
            own.length = sizeof(own.storage);
            if (::getsockname(fd.get(), own.get(), &own.length) == 0)
                logf(LogLevel::Info, "Listener '{}': sending from {}", listenerName, own.toString());
            return fd;
        };
    } else {
        // Replies go to the last sender that had an address; unnamed senders cannot be answered.
        ops.replyToLastSender = true;
        auto file = std::make_shared<SocketFile>();
        ops.open = [address = address, access = access, listenerName = name, file]() {
            return openListening(address, SOCK_DGRAM, access, listenerName, *file);
        };
    }
    return std::make_unique<DatagramListener>(name, loop, *format, formatOptions, std::move(ops));
}

bool allDigits(std::string_view text)
{
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "0660", "660" or "0o660": always octal, as chmod reads it. YAML 1.1 would read 0660 as an
// octal number, but yaml-cpp hands us the text, so both spellings arrive here the same way.
std::optional<mode_t> parseMode(OptionReader &reader)
{
    auto text = reader.string("mode");
    if (!text) return std::nullopt;
    std::string_view digits = *text;
    if (digits.starts_with("0o") || digits.starts_with("0O")) digits.remove_prefix(2);
    unsigned value = 0;
    bool octal = !digits.empty() && digits.size() <= 6;
    for (char c : digits) {
        octal = octal && c >= '0' && c <= '7';
        value = value * 8 + unsigned(c - '0');
    }
    if (!octal || value > 07777) {
        reader.error("mode", fmt::format("'mode' must be an octal file mode from 0 to 7777 such as \"0660\", not '{}'",
                                         *text));
        return std::nullopt;
    }
    return mode_t(value);
}

// A name through getpwnam_r/getgrnam_r, or a numeric id as it is. `lookup` fills `found` or not.
template <typename Id, typename Entry, typename Lookup>
std::optional<Id> parseId(OptionReader &reader, std::string_view key, std::string_view what, Lookup lookup)
{
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    if (allDigits(*text)) {
        if (text->size() > 10 || std::stoull(*text) >= uint64_t(Id(-1))) {
            reader.error(key, fmt::format("{} id {} is out of range", what, *text));
            return std::nullopt;
        }
        return Id(std::stoul(*text));
    }
    std::vector<char> buffer(4096);
    Entry entry;
    Entry *found = nullptr;
    int rc;
    while ((rc = lookup(text->c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
           buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    if (found) {
        if constexpr (std::is_same_v<Entry, passwd>)
            return found->pw_uid;
        else
            return found->gr_gid;
    }
    if (rc == 0 || rc == ENOENT || rc == ESRCH)
        reader.error(key, fmt::format("unknown {} '{}'", what, *text));
    else
        reader.error(key, fmt::format("failed to look up {} '{}': {}", what, *text, std::strerror(rc)));
    return std::nullopt;
}

}  // namespace

std::span<const KeySpec> unixListenerKeys() { return kKeys; }

std::unique_ptr<ListenerSpec> parseUnixListener(OptionReader &reader)
{
    auto spec = std::make_unique<UnixListenerSpec>();
    bool listens = reader.has("listen"), connects = reader.has("connect");
    if (listens && connects) {
        reader.error("connect", "a unix listener has either 'listen' or 'connect', not both");
        return nullptr;
    }
    if (!listens && !connects) {
        reader.errors().add(reader.map(), "a unix listener needs 'listen: PATH|@name' or 'connect: PATH|@name'");
        return nullptr;
    }
    spec->connecting = connects;
    auto address = reader.unixAddress(connects ? "connect" : "listen");
    if (address) spec->address = *address;

    if (auto type = reader.choice("socket", kSocketChoices))
        spec->socketType = *type == "dgram" ? SOCK_DGRAM : *type == "seqpacket" ? SOCK_SEQPACKET : SOCK_STREAM;

    spec->access.mode = parseMode(reader);
    spec->access.owner = parseId<uid_t, passwd>(reader, "owner", "user", getpwnam_r);
    spec->access.group = parseId<gid_t, group>(reader, "group", "group", getgrnam_r);
    if (address && (connects || !isFilesystemPath(*address))) {
        for (std::string_view key : {"mode", "owner", "group"})
            if (reader.has(key))
                reader.error(key, fmt::format("'{}' applies only to a filesystem 'listen' path, not to {}", key,
                                              connects ? "'connect'" : "an abstract @name"));
    }

    if (auto n = reader.integer("max_clients", 1, 65536)) spec->maxClients = unsigned(*n);
    spec->backoff = parseBackoff(reader);
    if (spec->socketType == SOCK_DGRAM) {
        for (std::string_view key : {"max_clients", "reconnect"})
            if (reader.has(key))
                reader.error(key, fmt::format("'{}' applies only to stream and seqpacket sockets", key));
    } else if (connects && reader.has("max_clients")) {
        reader.error("max_clients", "'max_clients' applies only to 'listen'");
    } else if (!connects && reader.has("reconnect")) {
        reader.error("reconnect", "'reconnect' applies only to 'connect'");
    }
    return address ? std::move(spec) : nullptr;
}

}  // namespace sockbridge
