// SPDX-License-Identifier: MIT
// The services socketcand sessions borrow: a CAN_BCM socket on a bus, the bus's counters.
#pragma once

#include <memory>

#include "formats/format.h"

namespace sockbridge {

// openSocket: a CAN_BCM socket connected to the named interface (kernel timestamps on);
// linkCounters: the interface's rx/tx bytes and packets from /sys/class/net.
std::shared_ptr<const SessionServices> canSessionServices();

}  // namespace sockbridge
