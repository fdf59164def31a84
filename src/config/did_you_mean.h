// SPDX-License-Identifier: MIT
// Suggests the closest known word for a misspelt one.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace sockbridge {

// Damerau-Levenshtein (optimal string alignment) distance.
size_t editDistance(std::string_view a, std::string_view b);

// The candidate nearest to `word` when it is close enough to be a likely typo (distance at most
// max(1, word.size() / 3)), else "". Ties go to the first candidate.
std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace sockbridge
