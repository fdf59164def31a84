// SPDX-License-Identifier: MIT
// RawListener: `type: raw` — AF_INET/AF_INET6 SOCK_RAW for one IP protocol, receive and send.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> rawListenerKeys();
std::unique_ptr<ListenerSpec> parseRawListener(OptionReader &reader);

// "icmp", "gre", "253", ... → the IP protocol number; nullopt when unknown or out of 0-255.
std::optional<int> ipProtocolNumber(std::string_view text);

}  // namespace sockbridge
