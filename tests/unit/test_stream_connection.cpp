// SPDX-License-Identifier: MIT
// StreamConnection on real socketpairs: framing, splice between raw pairs, half-close.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "core/event_loop.h"
#include "core/stream_connection.h"

using namespace sockbridge;

namespace {

struct SocketPair {
    UniqueFd ours, theirs;  // ours goes into a StreamConnection, theirs plays the peer
    SocketPair()
    {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        ours.reset(fds[0]);
        theirs.reset(fds[1]);
    }
};

std::string readAll(int fd)
{
    std::string out;
    char buffer[65536];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT)) > 0) out.append(buffer, size_t(n));
    return out;
}

class StreamConnectionTest : public ::testing::Test {
protected:
    std::unique_ptr<EventLoop> loop_ = EventLoop::create();
    std::unique_ptr<Timer> safety_ = loop_->makeTimer([this] { loop_->exit(99); });
    void SetUp() override { safety_->arm(std::chrono::seconds(10)); }
};

TEST_F(StreamConnectionTest, RawPairMovesBytesWithSpliceNotThroughMessages)
{
    SocketPair a, b;
    size_t spliced = 0, messages = 0;
    StreamConnection::Handlers handlers;
    handlers.onSpliced = [&](StreamConnection &, size_t bytes) { spliced += bytes; };
    handlers.onMessages = [&](StreamConnection &, std::vector<Payload> &payloads) { messages += payloads.size(); };
    const FormatKind &raw = *findFormat("raw");
    StreamConnection left(*loop_, std::move(a.ours), "a", 1, raw, {}, false, false, handlers);
    StreamConnection right(*loop_, std::move(b.ours), "b", 2, raw, {}, false, false, handlers);
    ASSERT_TRUE(left.spliceTo(right));

    std::string sent(300000, 'x');
    for (size_t i = 0; i < sent.size(); ++i) sent[i] = char('a' + i % 26);
    std::string received;
    size_t offset = 0;
    std::unique_ptr<IoWatch> writer;
    auto reader = loop_->watchIo(b.theirs.get(), kReadable, [&](uint32_t) {
        received += readAll(b.theirs.get());
        if (received.size() == sent.size()) loop_->exit(0);
    });
    writer = loop_->watchIo(a.theirs.get(), kWritable, [&](uint32_t) {
        ssize_t n = ::send(a.theirs.get(), sent.data() + offset, sent.size() - offset, MSG_DONTWAIT);
        if (n > 0) offset += size_t(n);
        if (offset == sent.size()) writer->setEvents(0);
    });
    ASSERT_EQ(loop_->run(), 0);
    EXPECT_EQ(received, sent);
    EXPECT_EQ(spliced, sent.size());
    EXPECT_EQ(messages, 0u);
}

TEST_F(StreamConnectionTest, FramedStreamsAreNotSpliced)
{
    SocketPair a, b;
    const FormatKind &lines = *findFormat("lines");
    const FormatKind &raw = *findFormat("raw");
    StreamConnection left(*loop_, std::move(a.ours), "a", 1, lines, {}, false, false, {});
    StreamConnection right(*loop_, std::move(b.ours), "b", 2, raw, {}, false, false, {});
    EXPECT_FALSE(left.spliceTo(right));
    EXPECT_FALSE(right.spliceTo(left));
}

TEST_F(StreamConnectionTest, HalfCloseFollowsEverySplicedByte)
{
    // A small receive buffer on the far end keeps bytes waiting in the pipe; the source's EOF
    // must reach the far end only after every one of them.
    SocketPair a, b;
    int small = 4096;
    ASSERT_EQ(::setsockopt(b.theirs.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    const FormatKind &raw = *findFormat("raw");
    StreamConnection::Handlers handlers;
    StreamConnection *rightPtr = nullptr;
    handlers.onEndOfInput = [&](StreamConnection &) { rightPtr->shutdownWriteWhenDrained(); };
    StreamConnection left(*loop_, std::move(a.ours), "a", 1, raw, {}, false, false, handlers);
    StreamConnection right(*loop_, std::move(b.ours), "b", 2, raw, {}, false, false, {});
    rightPtr = &right;
    ASSERT_TRUE(left.spliceTo(right));
    std::string sent(2 * 1024 * 1024, 'q');
    size_t offset = 0;
    std::string received;
    std::unique_ptr<IoWatch> writer, reader;
    writer = loop_->watchIo(a.theirs.get(), kWritable, [&](uint32_t) {
        ssize_t n = ::send(a.theirs.get(), sent.data() + offset, sent.size() - offset, MSG_DONTWAIT);
        if (n > 0) offset += size_t(n);
        if (offset == sent.size()) {
            ::shutdown(a.theirs.get(), SHUT_WR);
            writer->setEvents(0);
        }
    });
    reader = loop_->watchIo(b.theirs.get(), kReadable, [&](uint32_t) {
        char buffer[65536];
        ssize_t n = ::recv(b.theirs.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n > 0) received.append(buffer, size_t(n));
        if (n == 0) loop_->exit(0);  // EOF: the half-close came after every byte
    });
    ASSERT_EQ(loop_->run(), 0);
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_EQ(received, sent);
}

}  // namespace
