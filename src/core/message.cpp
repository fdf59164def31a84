// SPDX-License-Identifier: MIT
// Message helpers.
#include "core/message.h"

#include <fmt/core.h>

#include <ctime>

namespace sockbridge {

const char *messageKindName(MessageKind kind)
{
    switch (kind) {
    case MessageKind::Bytes: return "bytes";
    case MessageKind::Datagram: return "datagram";
    case MessageKind::CanFrame: return "can";
    case MessageKind::CanTimeout: return "can_timeout";
    case MessageKind::Packet: return "packet";
    }
    return "unknown";
}

int64_t realtimeNowNs()
{
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string formatTimestamp(int64_t realtimeNs)
{
    int64_t seconds = realtimeNs / 1'000'000'000;
    int64_t nanos = realtimeNs % 1'000'000'000;
    if (nanos < 0) {
        nanos += 1'000'000'000;
        --seconds;
    }
    time_t t = time_t(seconds);
    tm utc{};
    gmtime_r(&t, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                       utc.tm_hour, utc.tm_min, utc.tm_sec, nanos);
}

}  // namespace sockbridge
