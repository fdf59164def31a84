// SPDX-License-Identifier: MIT
// The plain epoll EventLoop, for builds without libsystemd.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/unique_fd.h"

namespace sockbridge {
namespace {

[[noreturn]] void throwErrno(const char *what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

class EpollEventLoop;

// Registrations are found by id, so a watch destroyed while its batch is being dispatched is
// simply not found instead of being touched after free.
struct Registration {
    int fd;
    uint32_t events;
    EventLoop::IoHandler handler;
};

class EpollIoWatch final : public IoWatch {
public:
    EpollIoWatch(EpollEventLoop &loop, uint64_t id) : loop_(loop), id_(id) {}
    ~EpollIoWatch() override;
    void setEvents(uint32_t events) override;
    uint32_t events() const override;

private:
    EpollEventLoop &loop_;
    uint64_t id_;
};

class EpollTimer final : public Timer {
public:
    EpollTimer(EpollEventLoop &loop, EventLoop::Handler handler)
        : loop_(loop), handler_(std::make_shared<EventLoop::Handler>(std::move(handler)))
    {
    }
    ~EpollTimer() override { disarm(); }
    void arm(std::chrono::nanoseconds after) override;
    void disarm() override;
    bool armed() const override { return armed_; }
    void fire()
    {
        armed_ = false;
        auto handler = handler_;  // the handler may destroy its timer
        (*handler)();
    }

private:
    EpollEventLoop &loop_;
    std::shared_ptr<EventLoop::Handler> handler_;
    bool armed_ = false;
    std::multimap<std::chrono::steady_clock::time_point, EpollTimer *>::iterator position_;
};

class EpollDeferred final : public Deferred {
public:
    EpollDeferred(EpollEventLoop &loop, EventLoop::Handler handler)
        : loop_(loop), handler_(std::make_shared<EventLoop::Handler>(std::move(handler)))
    {
    }
    ~EpollDeferred() override;
    void schedule() override;
    void fire()
    {
        scheduled_ = false;
        auto handler = handler_;  // the handler may destroy its deferred
        (*handler)();
    }

private:
    EpollEventLoop &loop_;
    std::shared_ptr<EventLoop::Handler> handler_;
    bool scheduled_ = false;
};

class EpollSignalWatch final : public SignalWatch {
public:
    EpollSignalWatch(EpollEventLoop &loop, int signo, EventLoop::Handler handler);

private:
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
};

class EpollEventLoop final : public EventLoop {
public:
    EpollEventLoop() : epoll_(epoll_create1(EPOLL_CLOEXEC))
    {
        if (!epoll_) throwErrno("epoll_create1");
    }

    std::unique_ptr<IoWatch> watchIo(int fd, uint32_t events, IoHandler handler) override
    {
        uint64_t id = nextId_++;
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = id;
        if (events != 0 && epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) throwErrno("epoll_ctl(ADD)");
        registrations_.emplace(id, std::make_shared<Registration>(Registration{fd, events, std::move(handler)}));
        return std::make_unique<EpollIoWatch>(*this, id);
    }
    std::unique_ptr<Timer> makeTimer(Handler handler) override
    {
        return std::make_unique<EpollTimer>(*this, std::move(handler));
    }
    std::unique_ptr<Deferred> makeDeferred(Handler handler) override
    {
        return std::make_unique<EpollDeferred>(*this, std::move(handler));
    }
    std::unique_ptr<SignalWatch> watchSignal(int signo, Handler handler) override
    {
        return std::make_unique<EpollSignalWatch>(*this, signo, std::move(handler));
    }
    int run() override;
    void exit(int code) override
    {
        exitCode_ = code;
        exiting_ = true;
    }
    const char *name() const override { return "epoll"; }

    void removeIo(uint64_t id)
    {
        auto it = registrations_.find(id);
        if (it == registrations_.end()) return;
        if (it->second->events != 0) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
        registrations_.erase(it);
    }
    void modifyIo(uint64_t id, uint32_t events)
    {
        auto &reg = *registrations_.at(id);
        if (reg.events == events) return;
        // epoll reports EPOLLHUP and EPOLLERR even for an empty mask: a paused watch leaves the set.
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = id;
        int op = reg.events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
        if (epoll_ctl(epoll_.get(), op, reg.fd, &ev) < 0) throwErrno("epoll_ctl");
        reg.events = events;
    }
    uint32_t ioEvents(uint64_t id) const { return registrations_.at(id)->events; }

    using TimerMap = std::multimap<std::chrono::steady_clock::time_point, EpollTimer *>;
    TimerMap &timers() { return timers_; }
    void addDeferred(EpollDeferred *item) { deferred_.push_back(item); }
    void removeDeferred(EpollDeferred *item)
    {
        std::erase(deferred_, item);
        std::replace(dispatching_.begin(), dispatching_.end(), item, static_cast<EpollDeferred *>(nullptr));
    }

private:
    int timeoutMs() const;
    void dispatchTimers();
    void dispatchDeferred();

    UniqueFd epoll_;
    uint64_t nextId_ = 1;
    std::unordered_map<uint64_t, std::shared_ptr<Registration>> registrations_;
    TimerMap timers_;
    std::vector<EpollDeferred *> deferred_;
    std::vector<EpollDeferred *> dispatching_;
    bool exiting_ = false;
    int exitCode_ = 0;
};

EpollIoWatch::~EpollIoWatch() { loop_.removeIo(id_); }
void EpollIoWatch::setEvents(uint32_t events) { loop_.modifyIo(id_, events); }
uint32_t EpollIoWatch::events() const { return loop_.ioEvents(id_); }

void EpollTimer::arm(std::chrono::nanoseconds after)
{
    disarm();
    auto deadline = std::chrono::steady_clock::now() + after;
    position_ = loop_.timers().emplace(deadline, this);
    armed_ = true;
}

void EpollTimer::disarm()
{
    if (!armed_) return;
    loop_.timers().erase(position_);
    armed_ = false;
}

EpollDeferred::~EpollDeferred() { loop_.removeDeferred(this); }

void EpollDeferred::schedule()
{
    if (scheduled_) return;
    scheduled_ = true;
    loop_.addDeferred(this);
}

EpollSignalWatch::EpollSignalWatch(EpollEventLoop &loop, int signo, EventLoop::Handler handler)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, signo);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) throwErrno("sigprocmask");
    fd_.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) throwErrno("signalfd");
    watch_ = loop.watchIo(fd_.get(), kReadable, [this, handler = std::move(handler)](uint32_t) {
        signalfd_siginfo info;
        while (::read(fd_.get(), &info, sizeof(info)) == sizeof(info)) handler();
    });
}

int EpollEventLoop::timeoutMs() const
{
    if (!deferred_.empty()) return 0;
    if (timers_.empty()) return -1;
    auto left = timers_.begin()->first - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return 0;
    // Round up so a timer never fires early.
    return int(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

void EpollEventLoop::dispatchTimers()
{
    auto now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
        EpollTimer *timer = timers_.begin()->second;
        timers_.erase(timers_.begin());
        timer->fire();
    }
}

void EpollEventLoop::dispatchDeferred()
{
    // Handlers may schedule again (those run on the next iteration) or destroy a later item of
    // this batch (removeDeferred() blanks it out).
    dispatching_.swap(deferred_);
    for (size_t i = 0; i < dispatching_.size(); ++i)
        if (EpollDeferred *item = dispatching_[i]) item->fire();
    dispatching_.clear();
}

int EpollEventLoop::run()
{
    constexpr int kMaxEvents = 64;
    epoll_event events[kMaxEvents];
    while (!exiting_) {
        int n = epoll_wait(epoll_.get(), events, kMaxEvents, timeoutMs());
        if (n < 0) {
            if (errno == EINTR) continue;
            throwErrno("epoll_wait");
        }
        for (int i = 0; i < n && !exiting_; ++i) {
            auto it = registrations_.find(events[i].data.u64);
            if (it == registrations_.end()) continue;
            // Hold it: the handler may destroy its own watch.
            std::shared_ptr<Registration> reg = it->second;
            reg->handler(events[i].events);
        }
        dispatchTimers();
        dispatchDeferred();
    }
    return exitCode_;
}

}  // namespace

std::unique_ptr<EventLoop> makeEpollEventLoop() { return std::make_unique<EpollEventLoop>(); }

}  // namespace sockbridge
