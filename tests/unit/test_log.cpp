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

TEST(LogLevel, ParsesTheConfigNames)
{
    EXPECT_EQ(parseLogLevel("debug"), LogLevel::Debug);
    EXPECT_EQ(parseLogLevel("warning"), LogLevel::Warning);
    EXPECT_EQ(parseLogLevel("nonsense"), LogLevel::Info);
}
