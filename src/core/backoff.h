// SPDX-License-Identifier: MIT
// Backoff: jittered exponential reconnect delays, shared by every kind that connects out.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sockbridge {

struct Backoff {
    std::chrono::nanoseconds initial = std::chrono::milliseconds(100);
    std::chrono::nanoseconds max = std::chrono::seconds(30);
};

// The delays of one streak of failed attempts: initial, doubling up to max, each with equal
// jitter (half fixed, half random) so many bridges do not retry in step.
class BackoffSchedule {
public:
    explicit BackoffSchedule(Backoff limits) : limits_(limits), next_(limits.initial) {}

    // The delay before the next attempt; counts one more failure.
    std::chrono::nanoseconds nextDelay();
    // A connection succeeded: the next streak starts at `initial` again.
    void reset();
    uint64_t failures() const { return failures_; }
    // The 1st, 2nd, 4th, 8th... failure of a streak: log those, so a dead peer cannot flood the log.
    bool worthLogging() const { return failures_ != 0 && (failures_ & (failures_ - 1)) == 0; }

private:
    Backoff limits_;
    std::chrono::nanoseconds next_;
    uint64_t failures_ = 0;
    std::mt19937 random_{std::random_device{}()};
};

}  // namespace sockbridge
