// SPDX-License-Identifier: MIT
// blast: a load generator and sink for the relay benchmarks (TCP stream, UDP datagrams).
//   blast tcp-send HOST PORT BYTES        connect, send BYTES, close
//   blast tcp-recv PORT                   accept one connection, read to EOF; prints bytes and seconds
//   blast udp-send HOST PORT COUNT SIZE [RATE]
//                                         send COUNT datagrams of SIZE bytes (sendmmsg batches), as fast
//                                         as it can or RATE a second (bursts on absolute 1 ms ticks);
//                                         prints count and seconds
//   blast udp-recv PORT IDLE_MS           count datagrams until none came for IDLE_MS; prints count and seconds
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const char *what)
{
    std::perror(what);
    std::exit(1);
}

sockaddr_in address(const char *host, int port)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) fail("inet_pton");
    return a;
}

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int tcpSend(const char *host, int port, long long bytes)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = address(host, port);
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0) fail("connect");
    std::vector<char> chunk(1 << 20, 'x');
    while (bytes > 0) {
        ssize_t n = send(fd, chunk.data(), size_t(std::min<long long>(bytes, (long long)chunk.size())), 0);
        if (n < 0) fail("send");
        bytes -= n;
    }
    close(fd);
    return 0;
}

int tcpRecv(int port)
{
    int server = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    sockaddr_in a = address("127.0.0.1", port);
    if (bind(server, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0 || listen(server, 4) < 0) fail("listen");
    std::printf("ready\n");
    std::fflush(stdout);
    int fd = accept(server, nullptr, nullptr);
    if (fd < 0) fail("accept");
    std::vector<char> buffer(1 << 20);
    long long total = 0;
    double start = 0;
    for (;;) {
        ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
        if (n < 0) fail("recv");
        if (n == 0) break;
        if (total == 0) start = now();
        total += n;
    }
    std::printf("%lld %.6f\n", total, now() - start);
    return 0;
}

// How many datagrams may have gone by now at `rate` a second: sleeps to the next 1 ms tick first.
long duePaced(double rate, const timespec &start, long count)
{
    static long ticks = 0;
    ++ticks;
    timespec wake = start;
    wake.tv_nsec += (ticks % 1000) * 1'000'000;
    wake.tv_sec += ticks / 1000 + wake.tv_nsec / 1'000'000'000;
    wake.tv_nsec %= 1'000'000'000;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr) == EINTR) {
    }
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double elapsed = double(now.tv_sec - start.tv_sec) + double(now.tv_nsec - start.tv_nsec) / 1e9;
    return std::min(count, long(elapsed * rate) + 1);
}

int udpSend(const char *host, int port, long count, int size, double rate)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = address(host, port);
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0) fail("connect");
    constexpr int kBatch = 64;
    std::vector<char> payload(size_t(size), 'u');
    mmsghdr headers[kBatch];
    iovec iov[kBatch];
    for (int i = 0; i < kBatch; ++i) {
        iov[i] = {payload.data(), payload.size()};
        headers[i] = {};
        headers[i].msg_hdr.msg_iov = &iov[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    long due = rate > 0 ? 0 : count;
    while (sent < count) {
        if (rate > 0 && sent >= due) due = duePaced(rate, start, count);
        int batch = int(std::min<long>(kBatch, due - sent));
        if (batch <= 0) continue;
        int n = sendmmsg(fd, headers, unsigned(batch), 0);
        if (n < 0) {
            if (errno == ECONNREFUSED || errno == ENOBUFS) continue;
            fail("sendmmsg");
        }
        sent += n;
    }
    timespec end{};
    clock_gettime(CLOCK_MONOTONIC, &end);
    std::printf("%ld %.6f\n", sent, double(end.tv_sec - start.tv_sec) + double(end.tv_nsec - start.tv_nsec) / 1e9);
    return 0;
}

int udpRecv(int port, int idleMs)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 32 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in a = address("127.0.0.1", port);
    if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0) fail("bind");
    std::printf("ready\n");
    std::fflush(stdout);
    constexpr int kBatch = 64;
    std::vector<char> buffers(kBatch * 2048);
    mmsghdr headers[kBatch];
    iovec iov[kBatch];
    long total = 0;
    double first = 0, last = 0;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, total ? idleMs : 60000) <= 0) break;
        for (int i = 0; i < kBatch; ++i) {
            iov[i] = {buffers.data() + i * 2048, 2048};
            headers[i] = {};
            headers[i].msg_hdr.msg_iov = &iov[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, headers, kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) continue;
        if (total == 0) first = now();
        total += n;
        last = now();
    }
    std::printf("%ld %.6f\n", total, last - first);
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "tcp-send" && argc == 5) return tcpSend(argv[2], std::atoi(argv[3]), std::atoll(argv[4]));
    if (mode == "tcp-recv" && argc == 3) return tcpRecv(std::atoi(argv[2]));
    if (mode == "udp-send" && (argc == 6 || argc == 7))
        return udpSend(argv[2], std::atoi(argv[3]), std::atol(argv[4]), std::atoi(argv[5]),
                       argc == 7 ? std::atof(argv[6]) : 0.0);
    if (mode == "udp-recv" && argc == 4) return udpRecv(std::atoi(argv[2]), std::atoi(argv[3]));
    std::fprintf(stderr, "usage: see the comment at the top of bench/blast.cpp\n");
    return 2;
}
