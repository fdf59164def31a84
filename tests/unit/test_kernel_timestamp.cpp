// SPDX-License-Identifier: MIT
// receiveWithControl: one datagram with its kernel receive time, or the time of reading without one.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/kernel_timestamp.h"
#include "core/message.h"
#include "core/unique_fd.h"

using namespace sockbridge;

namespace {

// A UDP socket on loopback and one connected to it; `stamped`: the receiver asks for SO_TIMESTAMPNS.
struct LoopbackPair {
    UniqueFd receiver{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    UniqueFd sender{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    // qemu-user (the cross builds' test runner) refuses SO_TIMESTAMPNS with ENOPROTOOPT: a kernel
    // time cannot be asked for there, which the daemon survives (it stamps the time of reading).
    bool stampRefused = false;

    explicit LoopbackPair(bool stamped)
    {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        int on = 1;
        if (stamped && ::setsockopt(receiver.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
            EXPECT_EQ(errno, ENOPROTOOPT) << std::strerror(errno);
            stampRefused = true;
        }
        EXPECT_EQ(::bind(receiver.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
        EXPECT_EQ(::getsockname(receiver.get(), reinterpret_cast<sockaddr *>(&address), &length), 0);
        EXPECT_EQ(::connect(sender.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
    }
    void send(std::string_view text) const
    {
        ASSERT_EQ(::send(sender.get(), text.data(), text.size(), 0), ssize_t(text.size())) << std::strerror(errno);
    }
};

}  // namespace

TEST(ReceiveWithControl, GivesTheDatagramAndTheKernelTimeOfItsArrival)
{
    LoopbackPair pair(true);
    if (pair.stampRefused) GTEST_SKIP() << "SO_TIMESTAMPNS is refused here (qemu-user)";
    // The kernel switches arrival stamps on through a deferred work item when the first socket
    // asks for them; until it has run, a datagram is stamped when it is read. So datagrams go
    // until one is stamped on arrival: earlier than a time taken once the socket was readable,
    // which the time of reading never is. Every stamp lies between its send and its read.
    bool stampedOnArrival = false;
    for (int attempt = 0; attempt < 200 && !stampedOnArrival; ++attempt) {
        const int64_t beforeSend = realtimeNowNs();
        pair.send("hello");
        pollfd readable{pair.receiver.get(), POLLIN, 0};
        ASSERT_EQ(::poll(&readable, 1, 10'000), 1);
        const int64_t queued = realtimeNowNs();
        uint8_t buffer[64];
        ControlSpace control;
        ReceivedDatagram got = receiveWithControl(pair.receiver.get(), buffer, control);
        const int64_t afterRead = realtimeNowNs();
        ASSERT_EQ(got.length, 5) << std::strerror(errno);
        EXPECT_EQ(std::string_view(reinterpret_cast<char *>(buffer), 5), "hello");
        EXPECT_GE(got.timestampNs, beforeSend);
        EXPECT_LE(got.timestampNs, afterRead);
        stampedOnArrival = got.timestampNs <= queued;
    }
    EXPECT_TRUE(stampedOnArrival) << "no datagram carried the kernel's time of arrival";
}

TEST(ReceiveWithControl, WithoutAKernelTimeGivesTheTimeOfReading)
{
    LoopbackPair pair(false);
    pair.send("x");
    const int64_t beforeRead = realtimeNowNs();
    uint8_t buffer[64];
    ControlSpace control;
    ReceivedDatagram got = receiveWithControl(pair.receiver.get(), buffer, control);
    const int64_t afterRead = realtimeNowNs();
    ASSERT_EQ(got.length, 1) << std::strerror(errno);
    EXPECT_GE(got.timestampNs, beforeRead);
    EXPECT_LE(got.timestampNs, afterRead);
}

TEST(ReceiveWithControl, AnEmptySocketFailsWithEagainAtOnce)
{
    LoopbackPair pair(false);
    uint8_t buffer[64];
    ControlSpace control;
    ReceivedDatagram got = receiveWithControl(pair.receiver.get(), buffer, control);
    EXPECT_EQ(got.length, -1);
    EXPECT_EQ(errno, EAGAIN);
}
