// SPDX-License-Identifier: MIT
// LinkMonitor: one rtnetlink socket per event loop telling subscribers when an interface comes and goes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/unique_fd.h"

namespace sockbridge {

struct LinkState {
    std::string name;
    int ifindex = 0;  // 0: no interface has this name
    bool up = false;  // IFF_UP
    unsigned mtu = 0;

    bool exists() const { return ifindex != 0; }
    bool operator==(const LinkState &) const = default;
};

class LinkMonitor {
public:
    using Callback = std::function<void(const LinkState &)>;

    // Unsubscribes when destroyed.
    class Subscription {
    public:
        Subscription(std::shared_ptr<LinkMonitor> monitor, uint64_t id) : monitor_(std::move(monitor)), id_(id) {}
        ~Subscription();
        Subscription(const Subscription &) = delete;
        Subscription &operator=(const Subscription &) = delete;

    private:
        std::shared_ptr<LinkMonitor> monitor_;
        uint64_t id_;
    };

    // The loop's monitor, opened on first use and shared while anyone holds it; throws
    // StartupError when the rtnetlink socket cannot be opened.
    static std::shared_ptr<LinkMonitor> forLoop(EventLoop &loop);
    // What the kernel says now about the interface `name` (no rtnetlink needed).
    static LinkState query(const std::string &name);

    explicit LinkMonitor(EventLoop &loop);
    ~LinkMonitor();
    LinkMonitor(const LinkMonitor &) = delete;
    LinkMonitor &operator=(const LinkMonitor &) = delete;

    // `callback` runs on the loop whenever the state of `name` changes: it appears, goes up or
    // down, changes MTU or index, or is removed (or renamed away). Returns the state now.
    [[nodiscard]] std::unique_ptr<Subscription> subscribe(const std::string &name, Callback callback,
                                                          LinkState &now);

private:
    void receive();
    void handleLink(bool removed, int ifindex, const std::string &name, unsigned flags, unsigned mtu);
    void update(const LinkState &state);
    void resync();
    void unsubscribe(uint64_t id);

    struct Subscriber {
        std::string name;
        Callback callback;
    };

    EventLoop &loop_;
    std::weak_ptr<LinkMonitor> self_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    std::map<uint64_t, Subscriber> subscribers_;
    std::map<std::string, LinkState> known_;  // the last state of each subscribed name
    uint64_t nextId_ = 1;
    std::vector<uint8_t> buffer_;
};

}  // namespace sockbridge
