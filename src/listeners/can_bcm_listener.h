// SPDX-License-Identifier: MIT
// CanBcmListener: `type: can-bcm` — a CAN_BCM socket on one interface: cyclic transmit and receive jobs.
#pragma once

#include <memory>
#include <span>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> canBcmListenerKeys();
std::unique_ptr<ListenerSpec> parseCanBcmListener(OptionReader &reader);

}  // namespace sockbridge
