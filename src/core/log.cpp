// SPDX-License-Identifier: MIT
// Daemon logging: stderr lines with a syslog priority prefix, or journald records with fields.
#include "core/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "build_config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

namespace sockbridge {

namespace {
LogLevel gLevel = LogLevel::Info;
bool gJournal = false;
// 10 records per 5 s for each listener+route+reason, then one "N messages suppressed" line.
LogRateLimiter gLimiter(10, std::chrono::seconds(5));
constexpr size_t kMaxLimiterKeys = 4096;  // a bound on memory, whatever the peers do
std::function<void(std::chrono::nanoseconds)> gSuppressionAlarm;

// $JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected; it is inherited by children
// whose stderr may be something else, so it counts only when stderr is that very stream.
bool stderrIsJournal()
{
    const char *value = std::getenv("JOURNAL_STREAM");
    if (!value) return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(value, "%llu:%llu", &device, &inode) != 2) return false;
    struct stat st;
    if (::fstat(STDERR_FILENO, &st) < 0) return false;
    return st.st_dev == device && st.st_ino == inode;
}

void writeRecord(LogLevel level, const LogFields &fields, std::string_view text)
{
#if HAVE_SYSTEMD
    if (gJournal) {
        std::string message = fmt::format("MESSAGE={}", text);
        std::string priority = fmt::format("PRIORITY={}", int(level));
        std::string listener = fmt::format("LISTENER={}", fields.listener);
        std::string route = fmt::format("ROUTE={}", fields.route);
        std::string peer = fmt::format("PEER={}", fields.peer);
        iovec iov[6];
        int n = 0;
        auto add = [&](const std::string &s) { iov[n++] = {const_cast<char *>(s.data()), s.size()}; };
        static const std::string identifier = "SYSLOG_IDENTIFIER=sockbridged";
        add(message);
        add(priority);
        add(identifier);
        if (!fields.listener.empty()) add(listener);
        if (!fields.route.empty()) add(route);
        if (!fields.peer.empty()) add(peer);
        if (sd_journal_sendv(iov, n) >= 0) return;
        // The journal went away: fall back to stderr for this record.
    }
#else
    (void)fields;
#endif
    // "<N>" is sd-daemon's priority prefix: journald strips it, a terminal shows it plainly.
    std::string line = fmt::format("<{}>{}\n", int(level), text);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}
}  // namespace

void setLogLevel(LogLevel level) { gLevel = level; }
LogLevel parseLogLevel(std::string_view name)
{
    if (name == "error") return LogLevel::Error;
    if (name == "warning") return LogLevel::Warning;
    if (name == "notice") return LogLevel::Notice;
    if (name == "debug") return LogLevel::Debug;
    return LogLevel::Info;
}

bool logEnabled(LogLevel level) { return int(level) <= int(gLevel); }

void initLogTarget() { gJournal = HAVE_SYSTEMD && stderrIsJournal(); }
bool loggingToJournal() { return gJournal; }

void logText(LogLevel level, std::string_view text) { writeRecord(level, LogFields{}, text); }

namespace {
void writeSuppressed(const LogFields &fields, uint64_t count)
{
    LogFields plain = fields;
    plain.peer = {};
    std::string_view who = fields.listener.empty() ? fields.route : fields.listener;
    writeRecord(LogLevel::Warning, plain,
                fmt::format("'{}': {} messages suppressed ({}): more than 10 in 5s", who, count, fields.reason));
}

constexpr char kKeySeparator = '\x1f';
}  // namespace

void logText(LogLevel level, const LogFields &fields, std::string_view text)
{
    if (!fields.reason.empty()) {
        std::string key = fmt::format("{}{}{}{}{}", fields.listener, kKeySeparator, fields.route, kKeySeparator,
                                      fields.reason);
        if (gLimiter.keys() >= kMaxLimiterKeys) gLimiter = LogRateLimiter(10, std::chrono::seconds(5));
        const auto now = LogRateLimiter::Clock::now();
        LogRateLimiter::Verdict verdict = gLimiter.check(key, now);
        if (verdict.suppressedBefore > 0) writeSuppressed(fields, verdict.suppressedBefore);
        if (verdict.firstHeldBack && gSuppressionAlarm)
            if (auto after = gLimiter.nextEnd(now)) gSuppressionAlarm(*after);
        if (!verdict.allow) return;
    }
    writeRecord(level, fields, text);
}

std::optional<std::chrono::nanoseconds> reportSuppressed()
{
    const auto now = LogRateLimiter::Clock::now();
    for (const auto &ended : gLimiter.takeEnded(now)) {
        // The key is listener, route and reason joined by the separator.
        const size_t first = ended.key.find(kKeySeparator), second = ended.key.find(kKeySeparator, first + 1);
        const std::string_view key = ended.key;
        writeSuppressed(LogFields{.listener = key.substr(0, first),
                                  .route = key.substr(first + 1, second - first - 1),
                                  .reason = key.substr(second + 1)},
                        ended.suppressed);
    }
    return gLimiter.nextEnd(now);
}

void setSuppressionAlarm(std::function<void(std::chrono::nanoseconds)> alarm) { gSuppressionAlarm = std::move(alarm); }

LogRateLimiter::Verdict LogRateLimiter::check(const std::string &key, Clock::time_point now)
{
    Verdict verdict;
    auto [it, added] = windows_.try_emplace(key, Window{now, 0, 0});
    Window &window = it->second;
    if (!added && now - window.start >= interval_) {
        verdict.suppressedBefore = window.suppressed;
        window = Window{now, 0, 0};
    }
    if (window.passed < burst_) {
        ++window.passed;
        verdict.allow = true;
    } else {
        verdict.firstHeldBack = window.suppressed == 0;
        ++window.suppressed;
    }
    return verdict;
}

std::vector<LogRateLimiter::Ended> LogRateLimiter::takeEnded(Clock::time_point now)
{
    std::vector<Ended> ended;
    for (auto &[key, window] : windows_) {
        if (window.suppressed == 0 || now - window.start < interval_) continue;
        ended.push_back({key, window.suppressed});
        window.suppressed = 0;  // reported; the window stays full until the key's next record opens a new one
    }
    return ended;
}

std::optional<LogRateLimiter::Clock::duration> LogRateLimiter::nextEnd(Clock::time_point now) const
{
    std::optional<Clock::duration> next;
    for (const auto &[key, window] : windows_) {
        if (window.suppressed == 0) continue;
        const Clock::duration left = std::max(Clock::duration::zero(), window.start + interval_ - now);
        if (!next || left < *next) next = left;
    }
    return next;
}

}  // namespace sockbridge
