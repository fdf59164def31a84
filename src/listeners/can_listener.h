// SPDX-License-Identifier: MIT
// CanListener: `type: can` — a CAN_RAW socket on one interface (or any), reading and writing frames.
#pragma once

#include <memory>
#include <span>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> canListenerKeys();
std::unique_ptr<ListenerSpec> parseCanListener(OptionReader &reader);

}  // namespace sockbridge
