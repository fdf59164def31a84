// SPDX-License-Identifier: MIT
// Counters rendering.
#include "core/counters.h"

#include <fmt/core.h>

namespace sockbridge {

std::string Counters::toJson() const
{
    return fmt::format(
        R"({{"messages_in":{},"bytes_in":{},"messages_out":{},"bytes_out":{},"drops":{},"errors":{},"lost":{},"connects":{},"reconnects":{},"kernel_drops":{},"refused":{}}})",
        messagesIn, bytesIn, messagesOut, bytesOut, drops, errors, lost, connects, reconnects, kernelDrops,
        refused);
}

}  // namespace sockbridge
