// SPDX-License-Identifier: MIT
// kernelTimestampNs: the SO_TIMESTAMPNS time the kernel put on a received datagram;
// receiveWithControl: one datagram read with room for that time.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <cstring>
#include <span>

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

// Room for SO_TIMESTAMPNS and what else a socket adds to a message, aligned for cmsghdr.
struct alignas(cmsghdr) ControlSpace {
    char bytes[CMSG_SPACE(sizeof(timespec)) + 64];
};

// What one read took: its length, or -1 with errno set; and its kernel time, or the time of
// reading when the socket gives none.
struct ReceivedDatagram {
    ssize_t length = -1;
    int64_t timestampNs = 0;
};

// One recvmsg(MSG_DONTWAIT) of a datagram into `buffer`, its ancillary data into `control`.
ReceivedDatagram receiveWithControl(int fd, std::span<uint8_t> buffer, ControlSpace &control);

}  // namespace sockbridge
