// SPDX-License-Identifier: MIT
// Counters rendering.
#include "core/counters.h"

#include <fmt/core.h>

namespace sockbridge {

std::string Counters::toJson() const
{
    std::string out = "{";
    for (const CounterField &counter : kCounterFields)
        out += fmt::format(R"({}"{}":{})", out.size() > 1 ? "," : "", counter.name, this->*counter.field);
    return out + "}";
}

}  // namespace sockbridge
