// SPDX-License-Identifier: MIT
// ControlServer: the unix socket sockbridgectl talks to (newline-delimited JSON, docs/control.md).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/status.h"
#include "core/accept_pause.h"
#include "core/event_loop.h"
#include "core/manager.h"
#include "core/stream_connection.h"
#include "core/tap.h"
#include "core/unique_fd.h"

namespace sockbridge {

class ControlServer final : public TapObserver {
public:
    using ReloadHandler = std::function<ReloadResult()>;

    static constexpr size_t kMaxClients = 32;
    // Messages queued for one tap client before newer ones are dropped (and counted).
    static constexpr size_t kTapQueue = 1024;
    // Bytes of each tapped message passed on: enough for any CAN frame and a packet's headers.
    static constexpr size_t kTapBytes = 256;

    ControlServer(EventLoop &loop, Manager &manager);
    ~ControlServer() override;
    ControlServer(const ControlServer &) = delete;
    ControlServer &operator=(const ControlServer &) = delete;

    // Binds `path` (a stale socket file is replaced, a live one is an error), sets its group and
    // mode before listening, and serves on the loop; throws StartupError.
    void open(const std::string &path, mode_t mode, std::optional<gid_t> group);
    // `reload` requests call this; without one they answer "reload not available".
    void setReloadHandler(ReloadHandler handler) { reload_ = std::move(handler); }
    const std::string &path() const { return path_; }

    // TapObserver
    void observe(const Listener &source, const MessagePtr &message) override;

private:
    struct Client {
        std::unique_ptr<StreamConnection> connection;
        std::string tapping;  // the listener tapped, or empty
        std::deque<MessagePtr> tapQueue;
        uint64_t tapDropped = 0;
        uint64_t tapDroppedSent = 0;
    };

    void acceptClients();
    // The second gate after the file's permissions: the caller's credentials (SO_PEERCRED,
    // SO_PEERGROUPS) must be root, the daemon's user, or, as the configured mode allows, a
    // member of the socket's group or anyone. Returns why not, or "".
    std::string refusalOf(int fd) const;
    void handleRequest(Client &client, const Payload &line);
    nlohmann::json answer(Client &client, const nlohmann::json &request);
    void reply(Client &client, const nlohmann::json &value);
    void flushTaps();
    void flushTap(Client &client);
    void updateTapHook();
    void forget(uint64_t id);

    EventLoop &loop_;
    Manager &manager_;
    StatusReport report_;
    ReloadHandler reload_;
    std::string path_;
    dev_t device_ = 0;
    ino_t inode_ = 0;
    mode_t mode_ = 0660;
    gid_t group_ = 0;  // the socket file's group
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    AcceptPause acceptPause_;  // out of descriptors: the watch waits
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
    std::vector<std::unique_ptr<Client>> closing_;  // freed on the next iteration
    std::unique_ptr<Deferred> reap_;
    std::unique_ptr<Deferred> tapFlush_;
    uint64_t nextId_ = 1;
    size_t tapClients_ = 0;
};

}  // namespace sockbridge
