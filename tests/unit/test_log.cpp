// SPDX-License-Identifier: MIT
// LogRateLimiter: a flood from one source is cut to a burst per window and counted, others pass.
#include <gtest/gtest.h>

#include "core/log.h"

using namespace sockbridge;
using namespace std::chrono_literals;

TEST(LogRateLimiter, PassesABurstThenCountsWhatItHoldsBack)
{
    LogRateLimiter limiter(10, 5s);
    auto t0 = LogRateLimiter::Clock::time_point{} + 100s;
    int passed = 0;
    for (int i = 0; i < 1000; ++i) passed += limiter.check("front/closing", t0 + std::chrono::milliseconds(i)).allow;
    EXPECT_EQ(passed, 10);
    LogRateLimiter::Verdict next = limiter.check("front/closing", t0 + 6s);
    EXPECT_TRUE(next.allow);
    EXPECT_EQ(next.suppressedBefore, 990u);
    EXPECT_EQ(limiter.check("front/closing", t0 + 6s).suppressedBefore, 0u);
}

TEST(LogRateLimiter, KeysAreIndependent)
{
    LogRateLimiter limiter(2, 5s);
    auto t0 = LogRateLimiter::Clock::time_point{} + 100s;
    for (int i = 0; i < 5; ++i) limiter.check("a", t0);
    EXPECT_FALSE(limiter.check("a", t0).allow);
    EXPECT_TRUE(limiter.check("b", t0).allow);
    EXPECT_EQ(limiter.keys(), 2u);
}

TEST(LogRateLimiter, AnEndedWindowReportsWhatItHeldBackOnceWithoutAnotherRecord)
{
    LogRateLimiter limiter(10, 5s);
    auto t0 = LogRateLimiter::Clock::time_point{} + 100s;
    int firstHeldBack = 0;
    for (int i = 0; i < 25; ++i) firstHeldBack += limiter.check("in\x1f\x1fnot allowed", t0).firstHeldBack;
    EXPECT_EQ(firstHeldBack, 1);
    EXPECT_EQ(limiter.nextEnd(t0 + 1s).value_or(0s), 4s);
    EXPECT_TRUE(limiter.takeEnded(t0 + 4s).empty());  // the window is still open
    auto ended = limiter.takeEnded(t0 + 5s);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].key, "in\x1f\x1fnot allowed");
    EXPECT_EQ(ended[0].suppressed, 15u);
    EXPECT_TRUE(limiter.takeEnded(t0 + 6s).empty());
    EXPECT_FALSE(limiter.nextEnd(t0 + 6s).has_value());
    // Reported already: the key's next record does not report it again.
    LogRateLimiter::Verdict next = limiter.check("in\x1f\x1fnot allowed", t0 + 7s);
    EXPECT_TRUE(next.allow);
    EXPECT_EQ(next.suppressedBefore, 0u);
}

TEST(LogRateLimiter, NothingIsDueWhileNothingIsHeldBack)
{
    LogRateLimiter limiter(10, 5s);
    auto t0 = LogRateLimiter::Clock::time_point{} + 100s;
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter.check("a", t0).firstHeldBack);
    EXPECT_FALSE(limiter.nextEnd(t0).has_value());
    EXPECT_TRUE(limiter.takeEnded(t0 + 10s).empty());
}

TEST(LogLevel, ParsesTheConfigNames)
{
    EXPECT_EQ(parseLogLevel("debug"), LogLevel::Debug);
    EXPECT_EQ(parseLogLevel("warning"), LogLevel::Warning);
    EXPECT_EQ(parseLogLevel("nonsense"), LogLevel::Info);
}
