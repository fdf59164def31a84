// SPDX-License-Identifier: MIT
// Tests for EventLoop: the same behaviour from the sd-event and the epoll implementation.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "build_config.h"
#include "core/event_loop.h"
#include "core/unique_fd.h"

using namespace sockbridge;
using namespace std::chrono_literals;

namespace {

struct LoopKind {
    const char *name;
    std::unique_ptr<EventLoop> (*make)();
};

// So a failure names the implementation instead of dumping the struct's bytes.
void PrintTo(const LoopKind &kind, std::ostream *os) { *os << kind.name; }

// What run() returns when the safety timer had to stop a loop that never finished.
constexpr int kSafetyExit = 99;

struct SocketPair {
    UniqueFd a, b;
};

SocketPair makeSocketPair()
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) return {};
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void writeByte(int fd, char byte)
{
    ASSERT_EQ(::write(fd, &byte, 1), 1);
}

// Everything readable on `fd` (non-blocking), as a string.
std::string readAll(int fd)
{
    std::string out;
    char buffer[64];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, size_t(n));
    return out;
}

class EventLoopTest : public ::testing::TestWithParam<LoopKind> {
protected:
    void SetUp() override
    {
        loop_ = GetParam().make();
        // Not a timing assertion: only there so a broken loop fails the test instead of hanging it.
        safety_ = loop_->makeTimer([this] { loop_->exit(kSafetyExit); });
        safety_->arm(10s);
    }

    // Exits with 0 after the loop has polled its fds `polls` more times. The fence is a socket
    // that is always writable, so every poll reports it together with whatever else is ready:
    // an enabled watch on a ready fd, or a due timer, has had its turn by then. (A deferred that
    // reschedules itself is no such fence: sd-event dispatches it ahead of pending I/O.)
    void exitAfterPolls(int polls)
    {
        fence_ = makeSocketPair();
        ASSERT_TRUE(fence_.a);
        pollsLeft_ = polls;
        fenceWatch_ = loop_->watchIo(fence_.a.get(), kWritable, [this](uint32_t) {
            if (--pollsLeft_ <= 0) loop_->exit(0);
        });
    }

    std::unique_ptr<EventLoop> loop_;
    std::unique_ptr<Timer> safety_;
    SocketPair fence_;
    std::unique_ptr<IoWatch> fenceWatch_;
    int pollsLeft_ = 0;
};

}  // namespace

TEST_P(EventLoopTest, IoWatchFiresWhenTheSocketBecomesReadable)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    std::string received;
    uint32_t seenEvents = 0;
    auto watch = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t events) {
        seenEvents = events;
        received += readAll(pair.a.get());
        loop_->exit(0);
    });
    writeByte(pair.b.get(), 'x');

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(received, "x");
    EXPECT_TRUE(seenEvents & kReadable);
    EXPECT_EQ(watch->events(), uint32_t(kReadable));
}

TEST_P(EventLoopTest, IoWatchWithNoEventsIsPausedUntilReenabled)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    bool reenabled = false;
    int firedWhilePaused = 0, firedAfterReenable = 0;
    std::unique_ptr<IoWatch> watch;
    watch = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t) {
        (reenabled ? firedAfterReenable : firedWhilePaused)++;
        readAll(pair.a.get());
        if (reenabled) loop_->exit(0);
    });
    watch->setEvents(0);
    EXPECT_EQ(watch->events(), 0u);
    writeByte(pair.b.get(), 'x');

    // Ten polls with the byte waiting, then re-enable.
    fence_ = makeSocketPair();
    ASSERT_TRUE(fence_.a);
    int polls = 0;
    fenceWatch_ = loop_->watchIo(fence_.a.get(), kWritable, [&](uint32_t) {
        if (++polls < 10) return;
        fenceWatch_->setEvents(0);
        reenabled = true;
        watch->setEvents(kReadable);
    });

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(firedWhilePaused, 0);
    EXPECT_EQ(firedAfterReenable, 1);
    EXPECT_EQ(watch->events(), uint32_t(kReadable));
}

TEST_P(EventLoopTest, IoWatchReportsWritable)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    uint32_t seenEvents = 0;
    auto watch = loop_->watchIo(pair.a.get(), kWritable, [&](uint32_t events) {
        seenEvents = events;
        loop_->exit(0);
    });

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_TRUE(seenEvents & kWritable);
    EXPECT_FALSE(seenEvents & kReadable);
}

TEST_P(EventLoopTest, IoWatchSwitchedFromReadableToWritableReportsWritable)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    uint32_t seenEvents = 0;
    // Nothing to read: only the switch to kWritable can make this fire.
    auto watch = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t events) {
        seenEvents = events;
        loop_->exit(0);
    });
    watch->setEvents(kWritable);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_TRUE(seenEvents & kWritable);
    EXPECT_EQ(watch->events(), uint32_t(kWritable));
}

TEST_P(EventLoopTest, HandlerMayDestroyItsOwnWatch)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    int fired = 0;
    std::unique_ptr<IoWatch> watch;
    watch = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t) {
        watch.reset();
        // Still inside the handler whose watch is gone: its captures must still be there.
        ++fired;
    });
    writeByte(pair.b.get(), 'x');  // never read: a watch still alive would fire again
    exitAfterPolls(10);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(watch, nullptr);
}

TEST_P(EventLoopTest, WatchDestroyedByAnotherHandlerOfTheSameBatchDoesNotRun)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    // Both ends readable before the loop polls, so both events come back from one poll; whichever
    // handler runs first destroys the other watch.
    int firedA = 0, firedB = 0;
    std::unique_ptr<IoWatch> watchA, watchB;
    watchA = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t) {
        ++firedA;
        readAll(pair.a.get());
        watchB.reset();
    });
    watchB = loop_->watchIo(pair.b.get(), kReadable, [&](uint32_t) {
        ++firedB;
        readAll(pair.b.get());
        watchA.reset();
    });
    writeByte(pair.a.get(), 'a');
    writeByte(pair.b.get(), 'b');
    exitAfterPolls(10);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(firedA + firedB, 1) << "A ran " << firedA << " times, B " << firedB;
    EXPECT_TRUE((watchA == nullptr) != (watchB == nullptr));
}

TEST_P(EventLoopTest, TimerFiresOnceAfterArm)
{
    int fired = 0;
    bool armedInHandler = true;
    std::unique_ptr<Timer> timer;
    timer = loop_->makeTimer([&] {
        ++fired;
        armedInHandler = timer->armed();
        // Already due: a timer that kept firing would run again within these polls.
        exitAfterPolls(10);
    });
    EXPECT_FALSE(timer->armed());
    timer->arm(1ms);
    EXPECT_TRUE(timer->armed());

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(armedInHandler);
    EXPECT_FALSE(timer->armed());
}

TEST_P(EventLoopTest, DisarmedTimerDoesNotFire)
{
    int fired = 0;
    auto timer = loop_->makeTimer([&] { ++fired; });
    timer->arm(0ns);  // due at once: only disarm() can keep it from firing
    timer->disarm();
    EXPECT_FALSE(timer->armed());
    exitAfterPolls(10);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(fired, 0);
}

TEST_P(EventLoopTest, TimerReArmedFromItsHandlerFiresAgain)
{
    int fired = 0;
    std::unique_ptr<Timer> timer;
    timer = loop_->makeTimer([&] {
        if (++fired < 3)
            timer->arm(1ms);
        else
            loop_->exit(0);
    });
    timer->arm(1ms);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(fired, 3);
}

TEST_P(EventLoopTest, DeferredRunsOncePerScheduleHoweverOftenScheduled)
{
    int ran = 0;
    auto deferred = loop_->makeDeferred([&] { ++ran; });
    deferred->schedule();
    deferred->schedule();
    deferred->schedule();
    exitAfterPolls(10);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(ran, 1);
}

TEST_P(EventLoopTest, DeferredScheduledFromItsHandlerRunsAgain)
{
    int ran = 0;
    std::unique_ptr<Deferred> deferred;
    deferred = loop_->makeDeferred([&] {
        if (++ran < 3)
            deferred->schedule();
        else
            loop_->exit(0);
    });
    deferred->schedule();

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(ran, 3);
}

TEST_P(EventLoopTest, DeferredNeverScheduledDoesNotRun)
{
    int ran = 0;
    auto deferred = loop_->makeDeferred([&] { ++ran; });
    exitAfterPolls(10);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(ran, 0);
}

TEST_P(EventLoopTest, DeferredDestroyedByAnEarlierOneOfTheSameBatchDoesNotRun)
{
    // Both scheduled for the same iteration; whichever runs first destroys the other.
    int ranA = 0, ranB = 0;
    std::unique_ptr<Deferred> a, b;
    a = loop_->makeDeferred([&] {
        ++ranA;
        b.reset();
    });
    b = loop_->makeDeferred([&] {
        ++ranB;
        a.reset();
    });
    a->schedule();
    b->schedule();
    exitAfterPolls(10);

    EXPECT_EQ(loop_->run(), 0);
    EXPECT_EQ(ranA + ranB, 1) << "A ran " << ranA << " times, B " << ranB;
}

TEST_P(EventLoopTest, DeferredThatKeepsReschedulingItselfDoesNotStarveIo)
{
    // "Runs on the next loop iteration": between two runs of a deferred the loop polls and
    // dispatches what is ready, so work split over iterations cannot lock I/O out.
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    constexpr int kStarved = 98;
    bool ioRan = false;
    auto watch = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t) {
        ioRan = true;
        loop_->exit(0);
    });
    writeByte(pair.b.get(), 'x');
    int runs = 0;
    std::unique_ptr<Deferred> busy;
    busy = loop_->makeDeferred([&] {
        // Bounded here: a starved loop would never reach the safety timer either.
        if (++runs >= 1000)
            loop_->exit(kStarved);
        else
            busy->schedule();
    });
    busy->schedule();

    EXPECT_EQ(loop_->run(), 0) << "the deferred ran " << runs << " times while the socket stayed unread";
    EXPECT_TRUE(ioRan);
}

TEST_P(EventLoopTest, SignalIsDeliveredThroughTheLoop)
{
    sigset_t before;
    ASSERT_EQ(sigprocmask(SIG_SETMASK, nullptr, &before), 0);
    ASSERT_FALSE(sigismember(&before, SIGUSR2)) << "SIGUSR2 already blocked: the test proves nothing";

    int delivered = 0;
    {
        // watchSignal blocks SIGUSR2 first, so raise() leaves it pending for the loop instead of
        // killing the test.
        auto watch = loop_->watchSignal(SIGUSR2, [&] {
            ++delivered;
            loop_->exit(0);
        });
        sigset_t blocked;
        ASSERT_EQ(sigprocmask(SIG_SETMASK, nullptr, &blocked), 0);
        EXPECT_TRUE(sigismember(&blocked, SIGUSR2));

        auto raiser = loop_->makeDeferred([] { raise(SIGUSR2); });
        raiser->schedule();

        EXPECT_EQ(loop_->run(), 0);
    }
    EXPECT_EQ(delivered, 1);

    // Leave the mask as it was for the next tests.
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGUSR2));
    sigprocmask(SIG_SETMASK, &before, nullptr);
}

TEST_P(EventLoopTest, RunReturnsTheCodeGivenToExit)
{
    auto deferred = loop_->makeDeferred([&] { loop_->exit(42); });
    deferred->schedule();
    EXPECT_EQ(loop_->run(), 42);
}

TEST_P(EventLoopTest, ExitFromAnIoHandlerReturnsItsCode)
{
    SocketPair pair = makeSocketPair();
    ASSERT_TRUE(pair.a && pair.b);
    auto watch = loop_->watchIo(pair.a.get(), kReadable, [&](uint32_t) { loop_->exit(7); });
    writeByte(pair.b.get(), 'x');
    EXPECT_EQ(loop_->run(), 7);
}

TEST_P(EventLoopTest, SafetyTimerStopsALoopWithNothingToDo)
{
    // The bound every other test relies on: a loop with nothing but the safety timer ends with
    // its code. Re-armed short so this test does not wait the full bound.
    safety_->arm(1ms);
    EXPECT_EQ(loop_->run(), kSafetyExit);
}

INSTANTIATE_TEST_SUITE_P(Loops, EventLoopTest,
                         ::testing::Values(LoopKind{"SdEvent", &makeSdEventLoop}, LoopKind{"Epoll", &makeEpollEventLoop}),
                         [](const ::testing::TestParamInfo<LoopKind> &param) { return std::string(param.param.name); });

TEST(EventLoop, ImplementationsAreNamed)
{
    EXPECT_STREQ(makeEpollEventLoop()->name(), "epoll");
    // Without libsystemd, makeSdEventLoop() falls back to epoll.
    EXPECT_STREQ(makeSdEventLoop()->name(), HAVE_SYSTEMD ? "sd-event" : "epoll");
}
