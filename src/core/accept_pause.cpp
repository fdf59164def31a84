// SPDX-License-Identifier: MIT
// AcceptPause: a paused listening watch, retried on a timer.
#include "core/accept_pause.h"

#include <cerrno>

namespace sockbridge {

AcceptPause::AcceptPause(EventLoop &loop)
    : timer_(loop.makeTimer([this] { retryNow(); }))
{
}

bool AcceptPause::isShortage(int error)
{
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

bool AcceptPause::pause(IoWatch &watch)
{
    watch_ = &watch;
    watch.setEvents(0);
    timer_->arm(kRetryDelay);
    const bool starts = !paused_;
    paused_ = true;
    return starts;
}

bool AcceptPause::accepted()
{
    const bool ends = paused_;
    paused_ = false;
    return ends;
}

void AcceptPause::retryNow()
{
    timer_->disarm();
    if (watch_ && paused_) watch_->setEvents(kReadable);
}

void AcceptPause::cancel()
{
    timer_->disarm();
    watch_ = nullptr;
    paused_ = false;
}

}  // namespace sockbridge
