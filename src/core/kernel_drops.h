// SPDX-License-Identifier: MIT
// KernelDropCounter: what a socket's full receive buffer made the kernel drop, read after each pass.
#pragma once

#include <cstdint>
#include <string>

#include "core/counters.h"

namespace sockbridge {

/*
 * The kernel counts what it drops for a socket whose receive buffer is full (sk_drops). SO_RXQ_OVFL
 * tells that count only with the next message queued, so drops at the end of a burst would stay
 * unknown until more traffic came; SO_MEMINFO reads it at once. A listener calls count() after each
 * pass of reads, and reset() when it opens a new socket (whose count starts at 0).
 */
class KernelDropCounter {
public:
    // `what`: the listener's unit in the log line ("datagrams", "frames").
    explicit KernelDropCounter(const char *what) : what_(what) {}

    // Adds the socket's new drops to `counters.kernelDrops`; the first time logged as a warning,
    // later ones at debug level.
    void count(int fd, const std::string &listener, Counters &counters);
    void reset() { seen_ = 0; }

private:
    const char *what_;
    uint32_t seen_ = 0;  // the socket's drop count, as last read
    bool warned_ = false;
};

}  // namespace sockbridge
