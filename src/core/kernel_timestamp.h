// SPDX-License-Identifier: MIT
// kernelTimestampNs: the SO_TIMESTAMPNS time the kernel put on a received datagram.
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <cstdint>
#include <cstring>

namespace sockbridge {

// CLOCK_REALTIME nanoseconds from the message's SCM_TIMESTAMPNS, or 0 when it has none.
inline int64_t kernelTimestampNs(msghdr &header)
{
    for (cmsghdr *c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            timespec ts;
            std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
        }
    return 0;
}

}  // namespace sockbridge
