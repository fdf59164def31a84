// SPDX-License-Identifier: MIT
// Suggests the closest known word for a misspelt one.
#include "config/did_you_mean.h"

#include <algorithm>
#include <vector>

namespace sockbridge {

size_t editDistance(std::string_view a, std::string_view b)
{
    // Three rows of the optimal-string-alignment table: two back (for transpositions), the
    // previous one and the current one.
    const size_t n = b.size();
    std::vector<size_t> twoBack(n + 1), prev(n + 1), cur(n + 1);
    for (size_t j = 0; j <= n; ++j)
        prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= n; ++j) {
            const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                cur[j] = std::min(cur[j], twoBack[j - 2] + 1);
        }
        std::swap(twoBack, prev);
        std::swap(prev, cur);
    }
    return prev[n];
}

std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates)
{
    const size_t limit = std::max<size_t>(1, word.size() / 3);
    std::string_view best;
    size_t bestDistance = limit + 1;
    for (std::string_view candidate : candidates) {
        const size_t distance = editDistance(word, candidate);
        if (distance < bestDistance) {
            best = candidate;
            bestDistance = distance;
        }
    }
    return bestDistance <= limit ? std::string(best) : std::string();
}

}  // namespace sockbridge
