// SPDX-License-Identifier: MIT
// Endpoint and Listener: what the core sees of a listener or a log, without knowing its kind.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/counters.h"
#include "core/event_loop.h"
#include "core/message.h"
#include "core/route_queue.h"
#include "core/unique_fd.h"

namespace sockbridge {

// Thrown at startup when a listener cannot be opened (bind fails, a live socket file, ...).
class StartupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Listener;

// The core side a listener emits into: implemented by the Manager.
class Router {
public:
    virtual ~Router() = default;
    virtual void deliver(Listener &source, MessagePtr message) = 0;
    // False when a `block` route from `source` is full: the source pauses reading until
    // resumeReading() is called.
    virtual bool canAccept(Listener &source) = 0;
};

// Something routes deliver to. Each route into it has its own RouteQueue; the endpoint takes
// messages from them when it can write and stops taking when it cannot (back-pressure).
class Endpoint {
public:
    Endpoint(std::string name, EventLoop &loop);
    virtual ~Endpoint();
    Endpoint(const Endpoint &) = delete;
    Endpoint &operator=(const Endpoint &) = delete;

    const std::string &name() const { return name_; }
    Counters &counters() { return counters_; }
    const Counters &counters() const { return counters_; }
    EventLoop &loop() { return loop_; }

    void addInput(RouteQueue *queue);
    void removeInput(RouteQueue *queue);
    // A queue into this endpoint got a message: drain() runs once on this loop iteration's end,
    // so everything queued meanwhile is written in one go.
    void notifyInput() { drainSoon_->schedule(); }
    // Drain right away (a queue into it is filling up within one loop iteration).
    void drainNow() { drain(); }
    // True when nothing is queued for this endpoint and nothing is buffered inside it.
    bool idle() const { return !hasInput() && flushed(); }
    // Counters only this kind keeps (an mqtt spool's, a log's), shown beside the common ones in stats.
    virtual std::vector<std::pair<std::string, uint64_t>> extraCounters() const { return {}; }

protected:
    virtual void drain() = 0;
    virtual bool flushed() const { return true; }
    bool hasInput() const;
    // The next message round-robin across the inputs, or nullptr.
    MessagePtr nextInput();

private:
    std::string name_;
    EventLoop &loop_;
    Counters counters_;
    std::vector<RouteQueue *> inputs_;
    size_t nextInput_ = 0;
    std::unique_ptr<Deferred> drainSoon_;
};

class Listener : public Endpoint {
public:
    using Endpoint::Endpoint;

    // Opens the sockets; throws StartupError saying which listener failed and why.
    virtual void start() = 0;
    // Socket activation: start() uses this bound (and, for streams, listening) socket instead of
    // opening its own. Kinds that cannot take one throw StartupError.
    virtual void adoptSocket(UniqueFd fd);
    // Shutdown: stop accepting and reading; queued output is still written.
    virtual void stopReading() = 0;
    // Back-pressure lifted: read again.
    virtual void resumeReading() = 0;
    // One line for status: "listening on 127.0.0.1:7000, 2 clients".
    virtual std::string describe() const = 0;
    // Called before counters are read: a kind with counters the kernel keeps fetches them here.
    virtual void refreshCounters() {}
    // Who it talks to now (clients, the connected or last peer), for status; may be empty.
    virtual std::vector<std::string> peers() const { return {}; }

    void setRouter(Router *router) { router_ = router; }

protected:
    // Hands a message to the routes from this listener (stamps source and counts it).
    void emit(Message &&message);
    // The same for a message built in place (a hot path saves moving it into the shared one).
    void emit(std::shared_ptr<Message> message);
    bool mayRead() const { return router_ == nullptr || router_->canAccept(const_cast<Listener &>(*this)); }

private:
    Router *router_ = nullptr;
};

}  // namespace sockbridge
