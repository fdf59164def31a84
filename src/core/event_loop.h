// SPDX-License-Identifier: MIT
// EventLoop: the one loop that drives everything, behind a small interface (sd-event or epoll).
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace sockbridge {

enum IoEvent : uint32_t {
    kReadable = EPOLLIN,
    kWritable = EPOLLOUT,
    kHangup = EPOLLHUP,
    kError = EPOLLERR,
};

// Watches one fd. Destroying it stops the watch; the fd itself belongs to the caller, who
// declares the fd before the watch so the watch goes first.
class IoWatch {
public:
    virtual ~IoWatch() = default;
    virtual void setEvents(uint32_t events) = 0;  // 0 pauses the watch
    virtual uint32_t events() const = 0;
};

// A one-shot timer on CLOCK_MONOTONIC; re-arm from its handler for periodic work.
class Timer {
public:
    virtual ~Timer() = default;
    virtual void arm(std::chrono::nanoseconds after) = 0;
    virtual void disarm() = 0;
    virtual bool armed() const = 0;
};

// Runs its handler once on the next loop iteration after schedule(), however often scheduled.
// Used to batch work: many messages queued in one iteration are written in one go.
class Deferred {
public:
    virtual ~Deferred() = default;
    virtual void schedule() = 0;
};

class SignalWatch {
public:
    virtual ~SignalWatch() = default;
};

class EventLoop {
public:
    using IoHandler = std::function<void(uint32_t events)>;
    using Handler = std::function<void()>;

    virtual ~EventLoop() = default;
    [[nodiscard]] virtual std::unique_ptr<IoWatch> watchIo(int fd, uint32_t events, IoHandler handler) = 0;
    [[nodiscard]] virtual std::unique_ptr<Timer> makeTimer(Handler handler) = 0;
    [[nodiscard]] virtual std::unique_ptr<Deferred> makeDeferred(Handler handler) = 0;
    // Blocks the signal for the process and delivers it through the loop.
    [[nodiscard]] virtual std::unique_ptr<SignalWatch> watchSignal(int signo, Handler handler) = 0;
    virtual int run() = 0;
    virtual void exit(int code) = 0;
    virtual const char *name() const = 0;

    // sd-event where built with libsystemd, otherwise epoll; SOCKBRIDGE_LOOP=epoll forces epoll.
    static std::unique_ptr<EventLoop> create();
};

std::unique_ptr<EventLoop> makeEpollEventLoop();
std::unique_ptr<EventLoop> makeSdEventLoop();

}  // namespace sockbridge
