// SPDX-License-Identifier: MIT
// can_blast: a paced CAN frame sender and a receiver that checks order and latency (bench/can_bench.py).
//   can_blast send IFACE RATE COUNT      send COUNT frames at RATE frames/s, then print "sent N seconds"
//   can_blast recv IFACE COUNT IDLE_MS   read until COUNT frames came or none for IDLE_MS after the first;
//                                        prints "received N reordered R duplicates D p50_us P p99_us Q seconds S"
// Each frame (id 0x123, 8 bytes) carries its sequence number and its send time (CLOCK_REALTIME µs, low
// 32 bits), so sender and receiver in one machine measure the latency of whatever is between them.
// The receiver takes the kernel's receive time (SO_TIMESTAMPNS) so its own scheduling does not count.
// Pacing: per-frame sleeps are useless in an emulated VM (a sleep lasts far longer than asked), so
// the sender wakes on absolute 1 ms ticks (clock_nanosleep TIMER_ABSTIME) and sends every frame due
// by then; a late tick sends a bigger burst and the average rate holds.
#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const char *what)
{
    std::perror(what);
    std::exit(1);
}

int64_t nowNs(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int openCan(const char *interface)
{
    int fd = socket(AF_CAN, SOCK_RAW, CAN_RAW);
    if (fd < 0) fail("socket(AF_CAN)");
    sockaddr_can address{};
    address.can_family = AF_CAN;
    address.can_ifindex = int(if_nametoindex(interface));
    if (address.can_ifindex == 0) fail(interface);
    if (bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) fail("bind");
    return fd;
}

// Sends frames first .. first + count - 1 in sendmmsg batches (a syscall costs a lot in an emulated VM).
void sendFrames(int fd, uint32_t first, long count)
{
    constexpr long kBatch = 64;
    can_frame frames[kBatch];
    iovec iovs[kBatch];
    mmsghdr headers[kBatch];
    while (count > 0) {
        const long batch = std::min(count, kBatch);
        const auto stampUs = uint32_t(nowNs(CLOCK_REALTIME) / 1000);
        for (long i = 0; i < batch; ++i) {
            frames[i] = {};
            frames[i].can_id = 0x123;
            frames[i].len = 8;
            const uint32_t sequence = first + uint32_t(i);
            std::memcpy(frames[i].data, &sequence, 4);
            std::memcpy(frames[i].data + 4, &stampUs, 4);
            iovs[i] = {&frames[i], sizeof(can_frame)};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        int n = sendmmsg(fd, headers, unsigned(batch), 0);
        if (n < 0) {
            // A full transmit queue: wait for room rather than lose frames, the rate just drops.
            if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) fail("sendmmsg");
            pollfd p{fd, POLLOUT, 0};
            poll(&p, 1, 1);
            continue;
        }
        first += uint32_t(n);
        count -= n;
    }
}

int sender(const char *interface, double rate, long count)
{
    // On one CPU: vcan queues a frame on the backlog of the CPU that sent it, so a sender that
    // migrated mid-stream could reorder its own frames before any bridge saw them.
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) < 0) fail("sched_setaffinity");
    int fd = openCan(interface);
    constexpr int64_t kTickNs = 1'000'000;
    const int64_t start = nowNs(CLOCK_MONOTONIC);
    long sent = 0;
    for (int64_t tick = start; sent < count; tick += kTickNs) {
        timespec wake{time_t(tick / 1'000'000'000), long(tick % 1'000'000'000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr) == EINTR) {
        }
        const double elapsed = double(nowNs(CLOCK_MONOTONIC) - start) / 1e9;
        const long due = std::min(count, long(elapsed * rate) + 1);
        if (due > sent) sendFrames(fd, uint32_t(sent), due - sent);
        sent = std::max(sent, due);
        // Missed ticks are skipped, not replayed one by one: the next burst catches up.
        tick = std::max(tick, nowNs(CLOCK_MONOTONIC) - kTickNs);
    }
    std::printf("sent %ld seconds %.6f\n", sent, double(nowNs(CLOCK_MONOTONIC) - start) / 1e9);
    return 0;
}

struct Received {
    long count = 0, reordered = 0, duplicates = 0;
    std::vector<uint32_t> latenciesUs;
    std::vector<bool> seen;
    int64_t highest = -1;

    void add(uint32_t sequence, uint32_t sentUs, uint32_t arrivedUs)
    {
        ++count;
        if (sequence >= seen.size()) seen.resize(std::max<size_t>(sequence + 1, seen.size() * 2));
        if (seen[sequence]) {
            ++duplicates;
            return;
        }
        seen[sequence] = true;
        if (int64_t(sequence) < highest) ++reordered;
        highest = std::max<int64_t>(highest, sequence);
        latenciesUs.push_back(arrivedUs - sentUs);  // unsigned: right across a wrap of the low 32 bits
    }

    uint32_t percentile(double p)
    {
        if (latenciesUs.empty()) return 0;
        size_t index = std::min(latenciesUs.size() - 1, size_t(p * double(latenciesUs.size())));
        std::nth_element(latenciesUs.begin(), latenciesUs.begin() + long(index), latenciesUs.end());
        return latenciesUs[index];
    }
};

int receiver(const char *interface, long count, int idleMs)
{
    int fd = openCan(interface);
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) fail("SO_TIMESTAMPNS");
    int buffer = 32 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer));
    // Frames the receiving socket itself drops are the benchmark's fault, not the bridge's: say so.
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on));
    std::printf("ready\n");
    std::fflush(stdout);
    constexpr int kBatch = 64;
    can_frame frames[kBatch];
    iovec iovs[kBatch];
    alignas(cmsghdr) char controls[kBatch][CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t))];
    mmsghdr headers[kBatch];
    Received got;
    got.latenciesUs.reserve(size_t(count));
    uint32_t ownDrops = 0;
    int64_t first = 0, last = 0;
    while (got.count < count) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, got.count ? idleMs : 120'000) <= 0) break;
        for (int i = 0; i < kBatch; ++i) {
            iovs[i] = {&frames[i], sizeof(can_frame)};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_control = controls[i];
            headers[i].msg_hdr.msg_controllen = sizeof(controls[i]);
        }
        int n = recvmmsg(fd, headers, kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) continue;
        for (int i = 0; i < n; ++i) {
            int64_t arrivedNs = nowNs(CLOCK_REALTIME);
            for (cmsghdr *c = CMSG_FIRSTHDR(&headers[i].msg_hdr); c; c = CMSG_NXTHDR(&headers[i].msg_hdr, c)) {
                if (c->cmsg_level != SOL_SOCKET) continue;
                if (c->cmsg_type == SO_TIMESTAMPNS) {
                    timespec ts;
                    std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    arrivedNs = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
                } else if (c->cmsg_type == SO_RXQ_OVFL) {
                    std::memcpy(&ownDrops, CMSG_DATA(c), sizeof(ownDrops));
                }
            }
            if (frames[i].can_id != 0x123 || frames[i].len != 8) continue;
            uint32_t sequence, sentUs;
            std::memcpy(&sequence, frames[i].data, 4);
            std::memcpy(&sentUs, frames[i].data + 4, 4);
            got.add(sequence, sentUs, uint32_t(arrivedNs / 1000));
            if (first == 0) first = arrivedNs;
            last = arrivedNs;
        }
    }
    const uint32_t p50 = got.percentile(0.50), p99 = got.percentile(0.99);
    std::printf("received %ld reordered %ld duplicates %ld p50_us %u p99_us %u seconds %.6f receiver_drops %u\n",
                got.count - got.duplicates, got.reordered, got.duplicates, p50, p99, double(last - first) / 1e9,
                ownDrops);
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "send" && argc == 5) return sender(argv[2], std::atof(argv[3]), std::atol(argv[4]));
    if (mode == "recv" && argc == 5) return receiver(argv[2], std::atol(argv[3]), std::atoi(argv[4]));
    std::fprintf(stderr, "usage: see the comment at the top of bench/can_blast.cpp\n");
    return 2;
}
