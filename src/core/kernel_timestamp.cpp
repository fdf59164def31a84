// SPDX-License-Identifier: MIT
// receiveWithControl: the recvmsg() set-up that the socketcand side socket and the BCM listener share.
#include "core/kernel_timestamp.h"

#include <sys/uio.h>

#include "core/message.h"

namespace sockbridge {

ReceivedDatagram receiveWithControl(int fd, std::span<uint8_t> buffer, ControlSpace &control)
{
    iovec iov{buffer.data(), buffer.size()};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control.bytes;
    header.msg_controllen = sizeof(control.bytes);
    ReceivedDatagram received;
    received.length = ::recvmsg(fd, &header, MSG_DONTWAIT);
    if (received.length < 0) return received;
    received.timestampNs = kernelTimestampNs(header);
    if (received.timestampNs <= 0) received.timestampNs = realtimeNowNs();
    return received;
}

}  // namespace sockbridge
