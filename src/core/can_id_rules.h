// SPDX-License-Identifier: MIT
// CanRouteRules: which CAN frames a route carries, id rewrites, and the ids it may write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/can_frame.h"
#include "core/message.h"

namespace sockbridge {

// One id or an inclusive range of ids, standard (11-bit) or extended (29-bit).
struct CanIdMatch {
    uint32_t first = 0;
    uint32_t last = 0;
    bool extended = false;

    // Error frames match nothing; a standard match never matches an extended frame.
    bool matches(const CanFrame &frame) const;
    std::string toString() const;  // "0x100-0x1FF", "0x7DF", "0x18DAF110"
};

// "0x7DF", "2015", "0x100-0x1FF", "0x0000007DF" (8 hex digits: extended). Ids above 0x7FF are
// extended. nullopt with `why` set when it is not an id or a range.
std::optional<CanIdMatch> parseCanIdMatch(std::string_view text, std::string &why);

struct CanIdRewrite {
    CanIdMatch from;
    uint32_t to = 0;  // the new id of from.first; a range keeps its offsets
    bool toExtended = false;
};

class CanRouteRules {
public:
    std::vector<CanIdMatch> filter;     // empty: every frame (unless excluded)
    std::vector<CanIdMatch> exclude;    // "!ID" items of filter_ids
    std::vector<CanIdRewrite> rewrites;  // the first that matches applies
    std::optional<std::vector<CanIdMatch>> allow;  // the ids that may reach the target

    bool empty() const { return filter.empty() && exclude.empty() && rewrites.empty() && !allow; }

    enum class Verdict {
        Pass,        // (possibly rewritten) goes on
        Filtered,    // not selected by filter_ids: not for this route
        NotCan,      // the bytes are not a CAN frame
        NotAllowed,  // its id (after rewrite) is not in allow_ids
    };
    // Filter, then rewrite, then the allowlist. On Pass `message` may be a rewritten copy.
    // `why` says what was refused, for the debug log.
    Verdict apply(MessagePtr &message, std::string &why) const;
};

}  // namespace sockbridge
