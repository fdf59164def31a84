// SPDX-License-Identifier: MIT
// Unit tests for the edit distance and the "did you mean" suggestion.
#include "config/did_you_mean.h"

#include <array>

#include <gtest/gtest.h>

using namespace sockbridge;

namespace {

constexpr std::array<std::string_view, 2> kListenFormat = {"listen", "format"};

}  // namespace

TEST(EditDistance, IdenticalWordsAreZeroApart)
{
    EXPECT_EQ(editDistance("listen", "listen"), 0u);
    EXPECT_EQ(editDistance("", ""), 0u);
}

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions)
{
    EXPECT_EQ(editDistance("lisen", "listen"), 1u);
    EXPECT_EQ(editDistance("listen", "lisen"), 1u);
    EXPECT_EQ(editDistance("listan", "listen"), 1u);
    EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
    EXPECT_EQ(editDistance("", "abc"), 3u);
    EXPECT_EQ(editDistance("abc", ""), 3u);
}

TEST(EditDistance, AdjacentTranspositionCountsAsOne)
{
    EXPECT_EQ(editDistance("fromat", "format"), 1u);
    EXPECT_EQ(editDistance("ab", "ba"), 1u);
    EXPECT_EQ(editDistance("lsiten", "listen"), 1u);
}

TEST(EditDistance, IsOptimalStringAlignmentNotFullDamerau)
{
    // Full Damerau-Levenshtein gives 2 (ca -> ac -> abc); OSA may not edit a transposed pair.
    EXPECT_EQ(editDistance("ca", "abc"), 3u);
}

TEST(DidYouMean, SuggestsWordOneEditAway)
{
    EXPECT_EQ(didYouMean("lisen", kListenFormat), "listen");
    EXPECT_EQ(didYouMean("formt", kListenFormat), "format");
    EXPECT_EQ(didYouMean("fromat", kListenFormat), "format");
}

TEST(DidYouMean, SuggestsNothingForUnrelatedWord)
{
    EXPECT_EQ(didYouMean("xyz", kListenFormat), "");
    EXPECT_EQ(didYouMean("", kListenFormat), "");
    EXPECT_EQ(didYouMean("lisen", std::span<const std::string_view>()), "");
}

TEST(DidYouMean, AllowsOneEditPerThreeLetters)
{
    constexpr std::array<std::string_view, 1> candidates = {"max_message_size"};
    // The limit comes from the misspelt word: 12 letters allow 4 edits, 8 letters allow 2.
    EXPECT_EQ(didYouMean("max_msg_size", candidates), "max_message_size");  // 4 apart
    EXPECT_EQ(didYouMean("msg_size", candidates), "");                     // 8 apart
    // A short word still allows one edit, but not two.
    constexpr std::array<std::string_view, 1> shortWord = {"tcp"};
    EXPECT_EQ(didYouMean("tcq", shortWord), "tcp");
    EXPECT_EQ(didYouMean("tqq", shortWord), "");
}

TEST(DidYouMean, PicksTheNearestCandidate)
{
    constexpr std::array<std::string_view, 3> candidates = {"listeners", "listen", "lists"};
    EXPECT_EQ(didYouMean("listn", candidates), "listen");
}

TEST(DidYouMean, TiesGoToTheFirstCandidate)
{
    constexpr std::array<std::string_view, 2> candidates = {"cat", "bat"};
    EXPECT_EQ(didYouMean("hat", candidates), "cat");
    constexpr std::array<std::string_view, 2> reversed = {"bat", "cat"};
    EXPECT_EQ(didYouMean("hat", reversed), "bat");
}

TEST(DidYouMean, ExactMatchIsReturned)
{
    EXPECT_EQ(didYouMean("format", kListenFormat), "format");
}
