// SPDX-License-Identifier: MIT
// Daemon logging to stderr, one line per record, with a syslog priority prefix systemd reads.
#include "core/log.h"

#include <unistd.h>

#include <string>

namespace sockbridge {

namespace {
LogLevel gLevel = LogLevel::Info;
}

void setLogLevel(LogLevel level) { gLevel = level; }
bool logEnabled(LogLevel level) { return int(level) <= int(gLevel); }

void logText(LogLevel level, std::string_view text)
{
    // "<N>" is sd-daemon's priority prefix: journald strips it, a terminal shows it plainly.
    std::string line = fmt::format("<{}>{}\n", int(level), text);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace sockbridge
