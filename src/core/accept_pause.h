// SPDX-License-Identifier: MIT
// AcceptPause: stops watching a listening socket while the process is out of descriptors.
#pragma once

#include <chrono>
#include <memory>

#include "core/event_loop.h"

namespace sockbridge {

/*
 * accept() failing for want of descriptors (or kernel memory) leaves the connection in the
 * backlog, so a level-triggered watch reports the socket again at once: a busy loop. A listening
 * socket's owner pauses its watch with this instead; it is watched again after kRetryDelay, or
 * at once when the owner frees a descriptor (retryNow()).
 */
class AcceptPause {
public:
    static constexpr std::chrono::milliseconds kRetryDelay{200};

    explicit AcceptPause(EventLoop &loop);

    // Whether an accept() errno is a shortage this waits out (EMFILE, ENFILE, ENOBUFS, ENOMEM).
    static bool isShortage(int error);
    // Pauses `watch`. True when this starts a pause (the owner logs and counts it once), false
    // while one goes on.
    bool pause(IoWatch &watch);
    // An accept() succeeded: true when that ends a pause (the owner says so).
    bool accepted();
    // A descriptor was freed: watch again now rather than after the delay.
    void retryNow();
    // The watch is going away: forget it, and any retry.
    void cancel();

private:
    std::unique_ptr<Timer> timer_;
    IoWatch *watch_ = nullptr;
    bool paused_ = false;
};

}  // namespace sockbridge
