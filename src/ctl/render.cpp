// SPDX-License-Identifier: MIT
// Status tables: aligned columns, exact message counts, bytes and rates in human units.
#include "ctl/render.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

namespace sockbridge {

std::string humanBytes(double bytes)
{
    static constexpr const char *kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t unit = 0;
    while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
        bytes /= 1024;
        ++unit;
    }
    if (unit == 0) return fmt::format("{:.0f} B", bytes);
    return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string humanRate(double perSecond, bool bytes)
{
    if (bytes) return humanBytes(perSecond) + "/s";
    if (perSecond < 10) return perSecond == 0 ? "0/s" : fmt::format("{:.1f}/s", perSecond);
    if (perSecond < 10'000) return fmt::format("{:.0f}/s", perSecond);
    if (perSecond < 10'000'000) return fmt::format("{:.1f}k/s", perSecond / 1e3);
    return fmt::format("{:.1f}M/s", perSecond / 1e6);
}

std::string humanDuration(double seconds)
{
    if (seconds < 10) return fmt::format("{:.1f}s", std::max(0.0, seconds));
    auto s = uint64_t(seconds);
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m {}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h {}m", s / 3600, s % 3600 / 60);
    return fmt::format("{}d {}h", s / 86400, s % 86400 / 3600);
}

std::string renderTable(const std::vector<std::string> &headers, const std::vector<std::vector<std::string>> &rows)
{
    std::vector<size_t> widths;
    std::vector<bool> right;
    std::vector<std::string> names;
    for (const auto &h : headers) {
        right.push_back(!h.empty() && h[0] == '>');
        names.push_back(right.back() ? h.substr(1) : h);
        widths.push_back(names.back().size());
    }
    // Display width: count UTF-8 lead bytes only ("→" is one column).
    auto width = [](const std::string &s) {
        return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (uint8_t(c) & 0xC0) != 0x80; }));
    };
    for (const auto &row : rows)
        for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
    auto line = [&](const std::vector<std::string> &cells) {
        std::string out;
        for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
            std::string pad(widths[i] - std::min(widths[i], width(cells[i])), ' ');
            std::string cell = right[i] ? pad + cells[i] : cells[i] + (i + 1 < cells.size() ? pad : "");
            out += (i ? "  " : "") + cell;
        }
        return out + "\n";
    };
    std::string out = line(names);
    for (const auto &row : rows) out += line(row);
    return out;
}

std::string renderStatus(const nlohmann::json &status)
{
    std::string out = fmt::format("sockbridged {}, pid {}, up {}; rates over the last {}\n\n",
                                  status.value("version", "?"), status.value("pid", 0),
                                  humanDuration(status.value("uptime_seconds", 0.0)),
                                  humanDuration(status.value("rate_seconds", 0.0)));
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> details;
    for (const auto &l : status["listeners"]) {
        const auto &c = l["counters"];
        const auto &r = l["rates"];
        rows.push_back({l.value("name", ""), l.value("kind", ""), l.value("state", ""),
                        std::to_string(l["peers"].size()), std::to_string(c.value("messages_in", uint64_t(0))),
                        humanBytes(c.value("bytes_in", 0.0)), std::to_string(c.value("messages_out", uint64_t(0))),
                        humanBytes(c.value("bytes_out", 0.0)), std::to_string(c.value("drops", uint64_t(0))),
                        std::to_string(c.value("errors", uint64_t(0))), humanRate(r.value("messages_in", 0.0), false),
                        humanRate(r.value("bytes_in", 0.0), true), humanRate(r.value("messages_out", 0.0), false),
                        humanRate(r.value("bytes_out", 0.0), true)});
    }
    out += renderTable({"LISTENER", "KIND", "STATE", ">PEERS", ">MSGS IN", ">BYTES IN", ">MSGS OUT", ">BYTES OUT",
                        ">DROPS", ">ERRORS", ">IN MSG/S", ">IN B/S", ">OUT MSG/S", ">OUT B/S"},
                       rows);
    for (const auto &l : status["listeners"]) {
        std::string peers;
        for (const auto &p : l["peers"]) peers += (peers.empty() ? "" : ", ") + p.get<std::string>();
        out += fmt::format("  {}: {}{}\n", l.value("name", ""), l.value("describe", ""),
                           peers.empty() ? "" : "; peers: " + peers);
    }
    rows.clear();
    for (const auto &route : status["routes"]) {
        const auto &c = route["counters"];
        const auto &q = route["queue"];
        rows.push_back({route.value("name", ""), std::to_string(c.value("messages_in", uint64_t(0))),
                        std::to_string(c.value("messages_out", uint64_t(0))), humanBytes(c.value("bytes_out", 0.0)),
                        std::to_string(c.value("drops", uint64_t(0))),
                        fmt::format("{}/{}", q.value("messages", uint64_t(0)), q.value("max_messages", uint64_t(0))),
                        fmt::format("{}/{}", humanBytes(q.value("bytes", 0.0)), humanBytes(q.value("max_bytes", 0.0))),
                        q.value("overflow", ""), humanRate(route["rates"].value("messages_out", 0.0), false),
                        humanRate(route["rates"].value("bytes_out", 0.0), true)});
    }
    if (!rows.empty()) {
        out += "\n";
        out += renderTable({"ROUTE", ">MSGS IN", ">MSGS OUT", ">BYTES OUT", ">DROPS", ">QUEUED", ">QUEUED BYTES",
                            "OVERFLOW", ">MSG/S", ">B/S"},
                           rows);
    }
    return out;
}

std::string renderStats(const nlohmann::json &stats)
{
    std::string out;
    for (const char *section : {"listeners", "routes", "logs"}) {
        if (!stats.contains(section)) continue;
        for (const auto &[name, counters] : stats[section].items()) {
            out += fmt::format("{} {}", std::string(section).substr(0, std::string(section).size() - 1), name);
            for (const auto &[key, value] : counters.items()) out += fmt::format(" {}={}", key, value.dump());
            out += "\n";
        }
    }
    return out;
}

}  // namespace sockbridge
