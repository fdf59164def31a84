// SPDX-License-Identifier: MIT
// Daemon logging: readable lines on stderr ("Failed to <verb> '<x>': <why>").
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace sockbridge {

enum class LogLevel { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);
void logText(LogLevel level, std::string_view text);

template <typename... Args>
void logf(LogLevel level, fmt::format_string<Args...> format, Args &&...args)
{
    if (logEnabled(level)) logText(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace sockbridge
