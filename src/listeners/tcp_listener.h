// SPDX-License-Identifier: MIT
// TcpListener: `type: tcp`, listening for clients or connecting out.
#pragma once

#include <memory>
#include <span>

#include "config/config.h"
#include "core/stream_listener.h"

namespace sockbridge {

std::span<const KeySpec> tcpListenerKeys();
std::unique_ptr<ListenerSpec> parseTcpListener(OptionReader &reader);
// Reads `reconnect: {initial, max}`; unix connecting listeners share it.
Backoff parseBackoff(OptionReader &reader);

}  // namespace sockbridge
