// SPDX-License-Identifier: MIT
// Tests for RouteQueue (overflow policies, limits, back-pressure callback) and Route counters.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/event_loop.h"
#include "core/listener.h"
#include "core/route.h"
#include "core/route_queue.h"

using namespace sockbridge;

namespace {

// A message of `size` bytes whose payload starts with `id`, so tests can tell which survived.
MessagePtr messageOf(uint8_t id, size_t size = 1)
{
    auto message = std::make_shared<Message>();
    message->data.assign(size, id);
    return message;
}

QueueLimits limitsOf(OverflowPolicy policy, size_t maxMessages, size_t maxBytes = 1 << 20)
{
    QueueLimits limits;
    limits.maxMessages = maxMessages;
    limits.maxBytes = maxBytes;
    limits.overflow = policy;
    return limits;
}

// The ids of what the queue holds, front first; empties the queue.
std::vector<int> drainIds(RouteQueue &queue)
{
    std::vector<int> ids;
    while (!queue.empty()) ids.push_back(queue.pop()->data.at(0));
    return ids;
}

}  // namespace

TEST(OverflowPolicy, NamesMatchTheConfigSpelling)
{
    EXPECT_STREQ(overflowPolicyName(OverflowPolicy::DropNewest), "drop-newest");
    EXPECT_STREQ(overflowPolicyName(OverflowPolicy::DropOldest), "drop-oldest");
    EXPECT_STREQ(overflowPolicyName(OverflowPolicy::Block), "block");
}

TEST(RouteQueue, DropNewestKeepsTheFirstMessagesAndCountsTheRest)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropNewest, 3));
    std::vector<bool> accepted;
    for (uint8_t id = 1; id <= 5; ++id) accepted.push_back(queue.push(messageOf(id)));

    EXPECT_EQ(accepted, (std::vector<bool>{true, true, true, false, false}));
    EXPECT_EQ(queue.drops(), 2u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{1, 2, 3}));
}

TEST(RouteQueue, DropOldestKeepsTheLastMessagesAndCountsTheRest)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropOldest, 3));
    std::vector<bool> accepted;
    for (uint8_t id = 1; id <= 5; ++id) accepted.push_back(queue.push(messageOf(id)));

    EXPECT_EQ(accepted, (std::vector<bool>(5, true)));
    EXPECT_EQ(queue.drops(), 2u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{3, 4, 5}));
}

TEST(RouteQueue, DropNewestStopsAtTheByteLimitBeforeTheMessageLimit)
{
    // Room for 100 messages but only 25 bytes: two 10-byte messages fit, a third does not.
    RouteQueue queue(limitsOf(OverflowPolicy::DropNewest, 100, 25));
    EXPECT_TRUE(queue.push(messageOf(1, 10)));
    EXPECT_TRUE(queue.push(messageOf(2, 10)));
    EXPECT_FALSE(queue.push(messageOf(3, 10)));
    // A smaller one still fits in the 5 bytes left.
    EXPECT_TRUE(queue.push(messageOf(4, 5)));

    EXPECT_EQ(queue.bytes(), 25u);
    EXPECT_EQ(queue.drops(), 1u);
    EXPECT_TRUE(queue.full());
    EXPECT_EQ(drainIds(queue), (std::vector<int>{1, 2, 4}));
}

TEST(RouteQueue, DropNewestStopsAtTheMessageLimitBeforeTheByteLimit)
{
    // Plenty of bytes, room for two messages.
    RouteQueue queue(limitsOf(OverflowPolicy::DropNewest, 2, 1000));
    EXPECT_TRUE(queue.push(messageOf(1)));
    EXPECT_TRUE(queue.push(messageOf(2)));
    EXPECT_FALSE(queue.push(messageOf(3)));

    EXPECT_EQ(queue.bytes(), 2u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{1, 2}));
}

TEST(RouteQueue, DropOldestPushesOutAsManyOldMessagesAsTheBytesOfTheNewOneNeed)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropOldest, 100, 30));
    queue.push(messageOf(1, 10));
    queue.push(messageOf(2, 10));
    queue.push(messageOf(3, 10));
    // 20 bytes need 20 free: the two oldest go, the third stays.
    EXPECT_TRUE(queue.push(messageOf(4, 20)));

    EXPECT_EQ(queue.drops(), 2u);
    EXPECT_EQ(queue.bytes(), 30u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{3, 4}));
}

TEST(RouteQueue, DropNewestAcceptsAMessageLargerThanMaxBytesIntoAnEmptyQueue)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropNewest, 10, 16));
    EXPECT_TRUE(queue.push(messageOf(1, 100)));
    EXPECT_EQ(queue.bytes(), 100u);
    EXPECT_EQ(queue.drops(), 0u);
    // Once it is there, nothing else fits.
    EXPECT_FALSE(queue.push(messageOf(2, 1)));
    EXPECT_EQ(drainIds(queue), (std::vector<int>{1}));
}

TEST(RouteQueue, DropNewestRejectsAMessageLargerThanMaxBytesWhenTheQueueHoldsAnything)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropNewest, 10, 16));
    queue.push(messageOf(1, 1));
    EXPECT_FALSE(queue.push(messageOf(2, 100)));
    EXPECT_EQ(queue.drops(), 1u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{1}));
}

TEST(RouteQueue, DropOldestEmptiesTheQueueForAMessageLargerThanMaxBytes)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropOldest, 10, 16));
    queue.push(messageOf(1, 4));
    queue.push(messageOf(2, 4));
    EXPECT_TRUE(queue.push(messageOf(3, 100)));

    EXPECT_EQ(queue.drops(), 2u);
    EXPECT_EQ(queue.bytes(), 100u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{3}));
}

TEST(RouteQueue, BlockQueuesPastItsLimitsAndReportsFull)
{
    RouteQueue queue(limitsOf(OverflowPolicy::Block, 2, 1000));
    EXPECT_TRUE(queue.push(messageOf(1)));
    EXPECT_FALSE(queue.full());
    EXPECT_TRUE(queue.push(messageOf(2)));
    EXPECT_TRUE(queue.full());
    // The source checks full() before reading; what one read already produced still goes in.
    EXPECT_TRUE(queue.push(messageOf(3)));
    EXPECT_TRUE(queue.push(messageOf(4)));

    EXPECT_EQ(queue.size(), 4u);
    EXPECT_EQ(queue.drops(), 0u);
    EXPECT_EQ(drainIds(queue), (std::vector<int>{1, 2, 3, 4}));
    EXPECT_FALSE(queue.full());
}

TEST(RouteQueue, BlockReportsFullAtTheByteLimit)
{
    RouteQueue queue(limitsOf(OverflowPolicy::Block, 100, 20));
    queue.push(messageOf(1, 19));
    EXPECT_FALSE(queue.full());
    queue.push(messageOf(2, 1));
    EXPECT_TRUE(queue.full());
    queue.pop();
    EXPECT_FALSE(queue.full());
}

TEST(RouteQueue, OnSpaceFiresOnceWhenAWaitingSourceSeesTheQueueDrainToHalf)
{
    RouteQueue queue(limitsOf(OverflowPolicy::Block, 4, 1000));
    int calls = 0;
    queue.setOnSpace([&] { ++calls; });
    for (uint8_t id = 1; id <= 5; ++id) queue.push(messageOf(id));
    ASSERT_TRUE(queue.full());
    queue.markSourceWaiting();

    std::vector<int> callsAfterPop;
    while (!queue.empty()) {
        queue.pop();
        callsAfterPop.push_back(calls);
    }
    // 5 → 4 → 3 → 2 (half of 4: fires) → 1 → 0, and never again.
    EXPECT_EQ(callsAfterPop, (std::vector<int>{0, 0, 1, 1, 1}));
}

TEST(RouteQueue, OnSpaceWaitsForTheBytesToDrainToHalfToo)
{
    // Few messages but many bytes: the message count is at half long before the bytes are.
    RouteQueue queue(limitsOf(OverflowPolicy::Block, 100, 40));
    int calls = 0;
    queue.setOnSpace([&] { ++calls; });
    queue.push(messageOf(1, 10));
    queue.push(messageOf(2, 30));
    queue.markSourceWaiting();

    queue.pop();  // 30 bytes left, above half of 40
    EXPECT_EQ(calls, 0);
    queue.pop();
    EXPECT_EQ(calls, 1);
}

TEST(RouteQueue, OnSpaceDoesNotFireWithoutAWaitingSource)
{
    RouteQueue queue(limitsOf(OverflowPolicy::Block, 4, 1000));
    int calls = 0;
    queue.setOnSpace([&] { ++calls; });
    for (uint8_t id = 1; id <= 5; ++id) queue.push(messageOf(id));
    drainIds(queue);
    EXPECT_EQ(calls, 0);
}

TEST(RouteQueue, OnSpaceFiresAgainOnlyAfterTheSourceWaitsAgain)
{
    RouteQueue queue(limitsOf(OverflowPolicy::Block, 2, 1000));
    int calls = 0;
    queue.setOnSpace([&] { ++calls; });

    queue.push(messageOf(1));
    queue.push(messageOf(2));
    queue.markSourceWaiting();
    queue.pop();
    EXPECT_EQ(calls, 1);

    queue.push(messageOf(3));
    queue.pop();
    EXPECT_EQ(calls, 1);  // nobody waited

    queue.push(messageOf(4));
    queue.markSourceWaiting();
    queue.pop();
    EXPECT_EQ(calls, 2);
}

TEST(RouteQueue, BytesFollowPushesPopsAndDrops)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropOldest, 3));
    EXPECT_EQ(queue.bytes(), 0u);
    queue.push(messageOf(1, 7));
    queue.push(messageOf(2, 11));
    EXPECT_EQ(queue.bytes(), 18u);
    queue.push(messageOf(3, 13));
    queue.push(messageOf(4, 17));  // pushes out the 7
    EXPECT_EQ(queue.bytes(), 11u + 13u + 17u);
    EXPECT_EQ(queue.pop()->size(), 11u);
    EXPECT_EQ(queue.bytes(), 30u);
    queue.pop();
    queue.pop();
    EXPECT_EQ(queue.bytes(), 0u);
    EXPECT_TRUE(queue.empty());
}

TEST(RouteQueue, DroppedNewestMessageAddsNoBytes)
{
    RouteQueue queue(limitsOf(OverflowPolicy::DropNewest, 1));
    queue.push(messageOf(1, 3));
    queue.push(messageOf(2, 50));
    EXPECT_EQ(queue.bytes(), 3u);
    EXPECT_EQ(queue.size(), 1u);
}

// --- Route ---------------------------------------------------------------------------------------

namespace {

// A target that hands out what its routes queued when the test asks, not when the loop runs.
class FakeEndpoint final : public Endpoint {
public:
    using Endpoint::Endpoint;
    MessagePtr take() { return nextInput(); }
    bool hasQueued() const { return hasInput(); }

protected:
    void drain() override {}
};

class FakeListener final : public Listener {
public:
    using Listener::Listener;
    void start() override {}
    void stopReading() override {}
    void resumeReading() override {}
    std::string describe() const override { return "fake"; }

protected:
    void drain() override {}
};

class RouteCounters : public ::testing::Test {
protected:
    // Declared first: the endpoints' deferred sources must go before the loop.
    std::unique_ptr<EventLoop> loop_ = EventLoop::create();
    FakeListener source_{"in", *loop_};
    FakeEndpoint target_{"out", *loop_};

    void offer(Route &route, int count, size_t size = 4)
    {
        for (int i = 0; i < count; ++i) route.offer(messageOf(uint8_t(i), size));
    }
    void take(int count)
    {
        for (int i = 0; i < count; ++i) ASSERT_NE(target_.take(), nullptr);
    }
    // What every policy promises: each message offered is out, dropped or still queued.
    static void expectBalanced(const Route &route)
    {
        Counters c = route.counters();
        EXPECT_EQ(c.messagesIn, c.messagesOut + c.drops + route.queue().size());
    }
};

}  // namespace

TEST_F(RouteCounters, RouteQueuesIntoItsTargetUntilDestroyed)
{
    {
        Route route("r", source_, target_, limitsOf(OverflowPolicy::DropNewest, 10));
        route.offer(messageOf(7));
        EXPECT_TRUE(target_.hasQueued());
        MessagePtr message = target_.take();
        ASSERT_NE(message, nullptr);
        EXPECT_EQ(message->data.at(0), 7);
        route.offer(messageOf(8));
    }
    // The destroyed route's queue is no longer an input of the target.
    EXPECT_FALSE(target_.hasQueued());
    EXPECT_EQ(target_.take(), nullptr);
}

TEST_F(RouteCounters, DropNewestCountsRejectedMessagesAsInAndDropped)
{
    Route route("r", source_, target_, limitsOf(OverflowPolicy::DropNewest, 3));
    offer(route, 5);
    Counters c = route.counters();
    EXPECT_EQ(c.messagesIn, 5u);
    EXPECT_EQ(c.drops, 2u);
    EXPECT_EQ(c.messagesOut, 0u);
    EXPECT_EQ(route.queue().size(), 3u);

    take(2);
    c = route.counters();
    EXPECT_EQ(c.messagesIn, 5u);
    EXPECT_EQ(c.drops, 2u);
    EXPECT_EQ(c.messagesOut, 2u);
    expectBalanced(route);
}

TEST_F(RouteCounters, DropOldestDoesNotCountPushedOutMessagesAsOut)
{
    Route route("r", source_, target_, limitsOf(OverflowPolicy::DropOldest, 3));
    offer(route, 5);
    Counters c = route.counters();
    EXPECT_EQ(c.messagesIn, 5u);
    EXPECT_EQ(c.drops, 2u);
    EXPECT_EQ(c.messagesOut, 0u);
    expectBalanced(route);

    take(3);
    offer(route, 4);  // 4 into an empty queue of 3: one more pushed out
    c = route.counters();
    EXPECT_EQ(c.messagesIn, 9u);
    EXPECT_EQ(c.drops, 3u);
    EXPECT_EQ(c.messagesOut, 3u);
    EXPECT_EQ(route.queue().size(), 3u);
    expectBalanced(route);
}

TEST_F(RouteCounters, BlockNeverDropsAndCountsWhatLeftTheQueue)
{
    Route route("r", source_, target_, limitsOf(OverflowPolicy::Block, 2));
    offer(route, 5);
    take(4);
    Counters c = route.counters();
    EXPECT_EQ(c.messagesIn, 5u);
    EXPECT_EQ(c.drops, 0u);
    EXPECT_EQ(c.messagesOut, 4u);
    EXPECT_EQ(route.queue().size(), 1u);
    expectBalanced(route);
}

TEST_F(RouteCounters, AllOutOnceTheQueueIsEmpty)
{
    for (OverflowPolicy policy : {OverflowPolicy::DropNewest, OverflowPolicy::DropOldest, OverflowPolicy::Block}) {
        SCOPED_TRACE(overflowPolicyName(policy));
        Route route("r", source_, target_, limitsOf(policy, 2));
        offer(route, 3);
        while (target_.take()) {
        }
        Counters c = route.counters();
        EXPECT_EQ(c.messagesIn, 3u);
        EXPECT_EQ(c.messagesOut + c.drops, 3u);
        EXPECT_EQ(c.drops, policy == OverflowPolicy::Block ? 0u : 1u);
    }
}
