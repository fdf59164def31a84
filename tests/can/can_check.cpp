// SPDX-License-Identifier: MIT
// can_check: reads the numbered frames can_pace sent and says whether every one came, in order.
//
//   can_check IFACE COUNT IDLE_SECONDS
//
// Frame i must have id i % 0x800, 8 data bytes holding i little-endian. Reads until COUNT frames
// came or none came for IDLE_SECONDS, with a big receive buffer and recvmmsg (a witness far
// cheaper than candump writing text, so it does not take the CPU the bridge needs). Prints the
// frames received, the first wrong one if any, and the rate between the kernel timestamps of the
// first and the last frame. Exit 0 when all COUNT came in order and unchanged, 1 otherwise.
#include <linux/can.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <array>
#include <string>
#include <vector>

#include "core/kernel_timestamp.h"
#include "core/unique_fd.h"

namespace {

constexpr unsigned kBatch = 256;

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: can_check IFACE COUNT IDLE_SECONDS\n");
        return 2;
    }
    const char *interface = argv[1];
    const long long count = std::atoll(argv[2]);
    const int idleMs = std::atoi(argv[3]) * 1000;
    sockbridge::UniqueFd fd(::socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, CAN_RAW));
    if (!fd) {
        std::fprintf(stderr, "can_check: socket: %s\n", std::strerror(errno));
        return 1;
    }
    int size = 64 << 20;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    int on = 1;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on));
    sockaddr_can address{};
    address.can_family = AF_CAN;
    address.can_ifindex = int(if_nametoindex(interface));
    if (!address.can_ifindex || ::bind(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
        std::fprintf(stderr, "can_check: %s: %s\n", interface, std::strerror(errno ? errno : ENODEV));
        return 1;
    }
    std::printf("can_check: listening on %s\n", interface);
    std::fflush(stdout);

    std::vector<can_frame> frames(kBatch);
    std::vector<iovec> iov(kBatch);
    std::vector<mmsghdr> headers(kBatch);
    std::vector<std::array<char, CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t))>> controls(kBatch);
    long long received = 0;
    long long firstBad = -1;
    std::string badText;
    int64_t firstStamp = 0, lastStamp = 0;
    while (received < count) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, idleMs) == 0) break;
        for (unsigned i = 0; i < kBatch; ++i) {
            iov[i] = {&frames[i], sizeof(can_frame)};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iov[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_control = controls[i].data();
            headers[i].msg_hdr.msg_controllen = controls[i].size();
        }
        int n = ::recvmmsg(fd.get(), headers.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            std::fprintf(stderr, "can_check: recvmmsg: %s\n", std::strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; ++i, ++received) {
            const can_frame &f = frames[i];
            uint64_t number = 0;
            for (int b = 0; b < 8; ++b) number |= uint64_t(f.data[b]) << (8 * b);
            int64_t stamp = sockbridge::kernelTimestampNs(headers[i].msg_hdr);
            if (received == 0) firstStamp = stamp;
            lastStamp = stamp;
            if (firstBad < 0 && (f.len != 8 || number != uint64_t(received) || f.can_id != canid_t(received % 0x800))) {
                firstBad = received;
                char text[128];
                std::snprintf(text, sizeof(text), "frame %lld is %03X#[%u] number %llu", received, f.can_id,
                              unsigned(f.len), (unsigned long long)number);
                badText = text;
            }
        }
    }
    const double seconds = double(lastStamp - firstStamp) / 1e9;
    std::printf("can_check: %lld of %lld frames on %s, %s; %.0f frames/s between the first and last "
                "kernel timestamp (%.3f s)\n",
                received, count, interface, firstBad < 0 ? "every one in order and unchanged" : badText.c_str(),
                seconds > 0 ? double(received - 1) / seconds : 0.0, seconds);
    return received == count && firstBad < 0 ? 0 : 1;
}
