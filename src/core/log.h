// SPDX-License-Identifier: MIT
// Daemon logging: readable lines on stderr, or structured records to journald under systemd.
#pragma once

#include <fmt/core.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sockbridge {

enum class LogLevel { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// Optional fields of one record: journald gets them as LISTENER=, ROUTE=, PEER=. A non-empty
// `reason` makes the record rate-limited per listener+route+reason (see LogRateLimiter).
struct LogFields {
    std::string_view listener;
    std::string_view route;
    std::string_view peer;
    std::string_view reason;
};

void setLogLevel(LogLevel level);
// "error", "warning", "notice", "info" or "debug"; Info for anything else.
LogLevel parseLogLevel(std::string_view name);
bool logEnabled(LogLevel level);
// Journald when stderr is the journal ($JOURNAL_STREAM names it, as systemd's own tools check)
// and libsystemd is built in; stderr lines otherwise. Called once at startup; tests may force it.
void initLogTarget();
bool loggingToJournal();
void logText(LogLevel level, std::string_view text);
void logText(LogLevel level, const LogFields &fields, std::string_view text);

template <typename... Args>
void logf(LogLevel level, fmt::format_string<Args...> format, Args &&...args)
{
    if (logEnabled(level)) logText(level, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void logf(LogLevel level, const LogFields &fields, fmt::format_string<Args...> format, Args &&...args)
{
    if (logEnabled(level)) logText(level, fields, fmt::format(format, std::forward<Args>(args)...));
}

// Rate-limited records held back in windows that have ended are reported now, one "N messages
// suppressed" line per listener+route+reason, instead of with that key's next record (which may
// never come). Returns how long until the next window holding records back ends, or nullopt.
std::optional<std::chrono::nanoseconds> reportSuppressed();
// Called when a window first holds a record back, with the time until that window ends: the daemon
// arms a timer that calls reportSuppressed() then. Unset (nullptr), the report waits for the key's
// next record.
void setSuppressionAlarm(std::function<void(std::chrono::nanoseconds)> alarm);

// At most `burst` records per key in each `interval`; what is held back is counted and reported
// once: when the key's next window lets a record through, or by takeEnded() after the window ends.
// A pure clock-driven object: testable.
class LogRateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    LogRateLimiter(unsigned burst, std::chrono::nanoseconds interval) : burst_(burst), interval_(interval) {}

    struct Verdict {
        bool allow = false;
        uint64_t suppressedBefore = 0;  // records held back in the key's previous window(s)
        bool firstHeldBack = false;     // this record is the first its window holds back
    };
    Verdict check(const std::string &key, Clock::time_point now);
    size_t keys() const { return windows_.size(); }

    struct Ended {
        std::string key;
        uint64_t suppressed = 0;
    };
    // The windows ended by `now` that held records back, each once: their counts are taken.
    std::vector<Ended> takeEnded(Clock::time_point now);
    // How long from `now` until the first window holding records back ends; nullopt when none does.
    std::optional<Clock::duration> nextEnd(Clock::time_point now) const;

private:
    struct Window {
        Clock::time_point start;
        unsigned passed = 0;
        uint64_t suppressed = 0;
    };
    unsigned burst_;
    std::chrono::nanoseconds interval_;
    std::unordered_map<std::string, Window> windows_;
};

}  // namespace sockbridge
