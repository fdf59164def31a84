// SPDX-License-Identifier: MIT
// can_pace: puts N numbered CAN frames on an interface at a steady rate, for the CAN rate tests.
//
//   can_pace IFACE COUNT RATE [BURST]
//
// Frame i has id i % 0x800 and its 8 data bytes hold i little-endian (as cangen -I i -D i), so
// a receiver can check count, order and content. Pacing: BURST frames (default RATE/1000, at
// least 1) on each tick of an absolute CLOCK_MONOTONIC schedule (clock_nanosleep TIMER_ABSTIME),
// so a late wake-up is made up on the next tick instead of slowing the whole run down, as the
// per-frame usleep of cangen does under an emulated CPU; each burst is one sendmmsg. ENOBUFS (the
// interface's queue is full) waits and sends the rest again: nothing is skipped.
// Prints one line: frames, seconds, the achieved rate and how far behind schedule it fell.
#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/unique_fd.h"

namespace {

int64_t nowNs()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleepUntil(int64_t ns)
{
    timespec ts{time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

long long fullRetries = 0;  // sends refused with ENOBUFS and tried again

// The frames with one sendmmsg (one system call per tick), what the interface's full queue
// refused retried; false on any other error.
bool sendFrames(int fd, std::vector<can_frame> &frames)
{
    std::vector<iovec> iov(frames.size());
    std::vector<mmsghdr> headers(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
        iov[i] = {&frames[i], sizeof(can_frame)};
        headers[i] = {};
        headers[i].msg_hdr.msg_iov = &iov[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    size_t done = 0;
    while (done < frames.size()) {
        int n = ::sendmmsg(fd, headers.data() + done, unsigned(frames.size() - done), 0);
        if (n > 0) {
            done += size_t(n);
            continue;
        }
        if (n < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
            ++fullRetries;
            pollfd p{fd, POLLOUT, 0};
            (void)::poll(&p, 1, 10);  // ENOBUFS does not always wake POLLOUT: retry after 10 ms at most
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        std::fprintf(stderr, "can_pace: sendmmsg: %s\n", n < 0 ? std::strerror(errno) : "nothing sent");
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        std::fprintf(stderr, "usage: can_pace IFACE COUNT RATE [BURST]\n");
        return 2;
    }
    const char *interface = argv[1];
    const long long count = std::atoll(argv[2]);
    const double rate = std::atof(argv[3]);
    long burst = argc == 5 ? std::atol(argv[4]) : long(rate / 1000);
    if (burst < 1) burst = 1;
    if (count < 1 || rate <= 0) {
        std::fprintf(stderr, "can_pace: COUNT and RATE must be positive\n");
        return 2;
    }
    sockbridge::UniqueFd fd(::socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW));
    if (!fd) {
        std::fprintf(stderr, "can_pace: socket: %s\n", std::strerror(errno));
        return 1;
    }
    int none = 0;  // a writer only: receive nothing
    (void)::setsockopt(fd.get(), SOL_CAN_RAW, CAN_RAW_FILTER, nullptr, none);
    sockaddr_can address{};
    address.can_family = AF_CAN;
    address.can_ifindex = int(if_nametoindex(interface));
    if (!address.can_ifindex || ::bind(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
        std::fprintf(stderr, "can_pace: %s: %s\n", interface, std::strerror(errno ? errno : ENODEV));
        return 1;
    }
    // vcan hands each frame to the receivers through the sending CPU's backlog queue: a sender
    // that moves between CPUs mid-burst can have its frames delivered out of order. One CPU.
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    (void)sched_setaffinity(0, sizeof(one), &one);
    const int64_t tickNs = int64_t(1e9 * double(burst) / rate);
    const int64_t start = nowNs();
    int64_t maxLagNs = 0;
    long long lateTicks = 0;
    long long sent = 0;
    for (long long tick = 0; sent < count; ++tick) {
        const int64_t due = start + tick * tickNs;
        sleepUntil(due);
        const int64_t lag = nowNs() - due;
        if (lag > tickNs) ++lateTicks;
        if (lag > maxLagNs) maxLagNs = lag;
        std::vector<can_frame> frames;
        for (long i = 0; i < burst && sent < count; ++i, ++sent) {
            can_frame frame{};
            frame.can_id = canid_t(sent % 0x800);
            frame.len = 8;
            uint64_t number = uint64_t(sent);
            for (int b = 0; b < 8; ++b) frame.data[b] = uint8_t(number >> (8 * b));
            frames.push_back(frame);
        }
        if (!sendFrames(fd.get(), frames)) return 1;
    }
    const double seconds = double(nowNs() - start) / 1e9;
    std::printf("can_pace: %lld frames in %.3f s: %.0f frames/s (asked %.0f, %ld per %.3f ms tick); "
                "%lld ticks late by more than a tick, at most %.1f ms behind; %lld sends retried (ENOBUFS)\n",
                sent, seconds, double(sent) / seconds, rate, burst, double(tickNs) / 1e6, lateTicks,
                double(maxLagNs) / 1e6, fullRetries);
    return 0;
}
