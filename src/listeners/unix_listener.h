// SPDX-License-Identifier: MIT
// UnixListener: `type: unix`.
#pragma once

#include <memory>
#include <span>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> unixListenerKeys();
std::unique_ptr<ListenerSpec> parseUnixListener(OptionReader &reader);

}  // namespace sockbridge
