// SPDX-License-Identifier: MIT
// Socket buffer sizes: SO_RCVBUF / SO_SNDBUF, forced past the sysctl cap where the daemon may.
#pragma once

#include <sys/socket.h>

namespace sockbridge {

// The FORCE variant passes net.core.rmem_max / wmem_max (it needs CAP_NET_ADMIN); without it the
// kernel caps the plain one there. False when neither took.
inline bool setSocketBuffer(int fd, int forced, int plain, int bytes)
{
    return setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof(bytes)) == 0 ||
           setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes)) == 0;
}
inline bool setReceiveBuffer(int fd, int bytes) { return setSocketBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, bytes); }
inline bool setSendBuffer(int fd, int bytes) { return setSocketBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, bytes); }

}  // namespace sockbridge
