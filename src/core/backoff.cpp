// SPDX-License-Identifier: MIT
// BackoffSchedule: the next reconnect delay.
#include "core/backoff.h"

#include <algorithm>

namespace sockbridge {

std::chrono::nanoseconds BackoffSchedule::nextDelay()
{
    std::uniform_real_distribution<double> spread(0.5, 1.0);
    auto delay = std::chrono::nanoseconds(int64_t(double(next_.count()) * spread(random_)));
    next_ = std::min(next_ * 2, limits_.max);
    ++failures_;
    return delay;
}

void BackoffSchedule::reset()
{
    next_ = limits_.initial;
    failures_ = 0;
}

}  // namespace sockbridge
