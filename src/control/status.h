// SPDX-License-Identifier: MIT
// StatusReport: the control socket's status and stats answers and the Prometheus text, with rates.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <string>

#include "core/counters.h"

namespace sockbridge {

class Manager;

// Builds answers from what the Manager runs now. Rates are counter deltas since the newest earlier
// request at least kMinInterval ago (or since the daemon started): nothing is sampled between
// requests, so an idle daemon does no work for them.
class StatusReport {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kMinInterval{1};
    static constexpr std::chrono::milliseconds kSampleSpacing{100};

    explicit StatusReport(const Manager &manager);

    // {"listeners":[{name, kind, state, describe, peers, counters, rates}], "routes":[...], ...}
    nlohmann::json status(Clock::time_point now = Clock::now());
    // {"listeners":{name: counters}, "routes":{name: counters}}: the SIGUSR1 line's shape.
    nlohmann::json stats() const;
    // The text exposition format (version 0.0.4) for GET /metrics.
    std::string prometheus() const;

private:
    struct Sample {
        Clock::time_point at;
        std::map<std::string, Counters> counters;  // "l:NAME" / "r:NAME"; missing counts as zero
    };
    nlohmann::json rates(const std::string &key, const Counters &now, const Sample &base, double seconds) const;

    const Manager &manager_;
    Clock::time_point started_;
    // Taken at requests only (at most one per kSampleSpacing): the rate's base is the newest one
    // at least kMinInterval old, else the oldest (the start, all zeros).
    std::deque<Sample> samples_;
};

}  // namespace sockbridge
