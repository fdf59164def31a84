// SPDX-License-Identifier: MIT
// Tables and human units for sockbridgectl's status and stats output.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sockbridge {

// "17 B", "1.5 KiB", "3.2 MiB".
std::string humanBytes(double bytes);
// "0/s", "12/s", "1.2k/s" for messages; "1.5 KiB/s" for bytes.
std::string humanRate(double perSecond, bool bytes);
// "45s", "3m 12s", "2h 5m", "3d 4h".
std::string humanDuration(double seconds);

// Columns padded to their widest cell; a column whose header starts with '>' is right-aligned.
std::string renderTable(const std::vector<std::string> &headers, const std::vector<std::vector<std::string>> &rows);

// The `sockbridgectl status` text from a status answer.
std::string renderStatus(const nlohmann::json &status);
// The `sockbridgectl stats` text: "listener NAME messages_in=3 bytes_in=17 ...".
std::string renderStats(const nlohmann::json &stats);

}  // namespace sockbridge
