// SPDX-License-Identifier: MIT
// The sd-event EventLoop: RAII wrappers over sd-event sources, watchdog enabled.
#include <signal.h>
#include <systemd/sd-event.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "core/event_loop.h"

namespace sockbridge {
namespace {

void check(int r, const char *what)
{
    if (r < 0) throw std::system_error(-r, std::generic_category(), what);
}

// Owns one sd_event_source reference.
struct SourceRef {
    sd_event_source *source = nullptr;
    SourceRef() = default;
    SourceRef(const SourceRef &) = delete;
    SourceRef &operator=(const SourceRef &) = delete;
    ~SourceRef() { sd_event_source_disable_unref(source); }
};

class SdIoWatch final : public IoWatch {
public:
    SdIoWatch(sd_event *event, int fd, uint32_t events, EventLoop::IoHandler handler)
        : handler_(std::make_shared<EventLoop::IoHandler>(std::move(handler))), events_(events)
    {
        check(sd_event_add_io(event, &ref_.source, fd, events, &SdIoWatch::dispatch, this), "sd_event_add_io");
        if (events == 0) sd_event_source_set_enabled(ref_.source, SD_EVENT_OFF);
    }
    void setEvents(uint32_t events) override
    {
        if (events == events_) return;
        if (events != 0) check(sd_event_source_set_io_events(ref_.source, events), "sd_event_source_set_io_events");
        sd_event_source_set_enabled(ref_.source, events ? SD_EVENT_ON : SD_EVENT_OFF);
        events_ = events;
    }
    uint32_t events() const override { return events_; }

private:
    static int dispatch(sd_event_source *, int, uint32_t revents, void *self)
    {
        // Held here: the handler may destroy its own watch.
        auto handler = static_cast<SdIoWatch *>(self)->handler_;
        (*handler)(revents);
        return 0;
    }
    std::shared_ptr<EventLoop::IoHandler> handler_;
    uint32_t events_;
    SourceRef ref_;
};

class SdTimer final : public Timer {
public:
    SdTimer(sd_event *event, EventLoop::Handler handler)
        : event_(event), handler_(std::make_shared<EventLoop::Handler>(std::move(handler)))
    {
        check(sd_event_add_time(event, &ref_.source, CLOCK_MONOTONIC, UINT64_MAX, 1, &SdTimer::dispatch, this),
              "sd_event_add_time");
        sd_event_source_set_enabled(ref_.source, SD_EVENT_OFF);
    }
    void arm(std::chrono::nanoseconds after) override
    {
        uint64_t now = 0;
        sd_event_now(event_, CLOCK_MONOTONIC, &now);
        uint64_t usec = uint64_t(std::chrono::ceil<std::chrono::microseconds>(after).count());
        sd_event_source_set_time(ref_.source, now + usec);
        sd_event_source_set_enabled(ref_.source, SD_EVENT_ONESHOT);
        armed_ = true;
    }
    void disarm() override
    {
        sd_event_source_set_enabled(ref_.source, SD_EVENT_OFF);
        armed_ = false;
    }
    bool armed() const override { return armed_; }

private:
    static int dispatch(sd_event_source *, uint64_t, void *self)
    {
        auto *timer = static_cast<SdTimer *>(self);
        timer->armed_ = false;
        auto handler = timer->handler_;  // the handler may destroy its timer
        (*handler)();
        return 0;
    }
    sd_event *event_;
    std::shared_ptr<EventLoop::Handler> handler_;
    bool armed_ = false;
    SourceRef ref_;
};

// Deferred work runs on a later loop iteration. Scheduled from an I/O, timer or signal handler it
// is a defer source: dispatched without polling again (the loop has just polled), which spares a
// timerfd_settime and a read a pass. Scheduled from a deferred's own handler it is a time source
// already due instead: sd-event dispatches pending defer sources without polling epoll, so
// deferreds that kept scheduling each other would starve I/O; a due timer becomes pending only
// when the loop polls, so it takes turns with I/O.
class SdDeferred final : public Deferred {
public:
    SdDeferred(sd_event *event, bool &inDeferred, EventLoop::Handler handler)
        : handler_(std::make_shared<EventLoop::Handler>(std::move(handler))), inDeferred_(inDeferred)
    {
        check(sd_event_add_defer(event, &defer_.source, &SdDeferred::dispatchDefer, this), "sd_event_add_defer");
        sd_event_source_set_enabled(defer_.source, SD_EVENT_OFF);
        check(sd_event_add_time(event, &due_.source, CLOCK_MONOTONIC, 1, 1, &SdDeferred::dispatchDue, this),
              "sd_event_add_time");
        sd_event_source_set_enabled(due_.source, SD_EVENT_OFF);
    }
    void schedule() override
    {
        if (scheduled_) return;  // one run covers every schedule() until it starts
        scheduled_ = true;
        sd_event_source_set_enabled(inDeferred_ ? due_.source : defer_.source, SD_EVENT_ONESHOT);
    }

private:
    static int dispatchDefer(sd_event_source *, void *self) { return dispatch(static_cast<SdDeferred *>(self)); }
    static int dispatchDue(sd_event_source *, uint64_t, void *self) { return dispatch(static_cast<SdDeferred *>(self)); }
    static int dispatch(SdDeferred *self)
    {
        self->scheduled_ = false;
        auto handler = self->handler_;  // the handler may destroy its deferred
        bool &inDeferred = self->inDeferred_;  // the loop's, outlives the deferred
        inDeferred = true;
        (*handler)();
        inDeferred = false;
        return 0;
    }
    std::shared_ptr<EventLoop::Handler> handler_;
    bool &inDeferred_;
    bool scheduled_ = false;
    SourceRef defer_;
    SourceRef due_;
};

class SdSignalWatch final : public SignalWatch {
public:
    SdSignalWatch(sd_event *event, int signo, EventLoop::Handler handler) : handler_(std::move(handler))
    {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, signo);
        if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) check(-errno, "sigprocmask");
        check(sd_event_add_signal(event, &ref_.source, signo, &SdSignalWatch::dispatch, this), "sd_event_add_signal");
    }

private:
    static int dispatch(sd_event_source *, const signalfd_siginfo *, void *self)
    {
        static_cast<SdSignalWatch *>(self)->handler_();
        return 0;
    }
    EventLoop::Handler handler_;
    SourceRef ref_;
};

class SdEventLoop final : public EventLoop {
public:
    SdEventLoop()
    {
        check(sd_event_new(&event_), "sd_event_new");
        // Pings the service manager from the loop when WatchdogSec= is set; a no-op otherwise.
        sd_event_set_watchdog(event_, true);
    }
    ~SdEventLoop() override { sd_event_unref(event_); }

    std::unique_ptr<IoWatch> watchIo(int fd, uint32_t events, IoHandler handler) override
    {
        return std::make_unique<SdIoWatch>(event_, fd, events, std::move(handler));
    }
    std::unique_ptr<Timer> makeTimer(Handler handler) override
    {
        return std::make_unique<SdTimer>(event_, std::move(handler));
    }
    std::unique_ptr<Deferred> makeDeferred(Handler handler) override
    {
        return std::make_unique<SdDeferred>(event_, inDeferred_, std::move(handler));
    }
    std::unique_ptr<SignalWatch> watchSignal(int signo, Handler handler) override
    {
        return std::make_unique<SdSignalWatch>(event_, signo, std::move(handler));
    }
    int run() override
    {
        int r = sd_event_loop(event_);
        check(r, "sd_event_loop");
        return r;
    }
    void exit(int code) override { sd_event_exit(event_, code); }
    const char *name() const override { return "sd-event"; }

private:
    sd_event *event_ = nullptr;
    bool inDeferred_ = false;  // a deferred's handler is running
};

}  // namespace

std::unique_ptr<EventLoop> makeSdEventLoop() { return std::make_unique<SdEventLoop>(); }

}  // namespace sockbridge
