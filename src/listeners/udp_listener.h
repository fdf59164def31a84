// SPDX-License-Identifier: MIT
// UdpListener: `type: udp`.
#pragma once

#include <memory>
#include <span>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> udpListenerKeys();
std::unique_ptr<ListenerSpec> parseUdpListener(OptionReader &reader);

}  // namespace sockbridge
