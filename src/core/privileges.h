// SPDX-License-Identifier: MIT
// Privilege drop after binding: become `user:`/`group:`, keep CAP_NET_RAW only when needed.
#pragma once

#include <optional>

#include "config/config.h"

namespace sockbridge {

// Run once every listener is bound. As root with `runAs`: setgroups, setgid, setuid to it. Then,
// when not root (after that drop, or started as a user with ambient capabilities by systemd),
// every capability is dropped except CAP_NET_RAW when `keepNetRaw`. Throws StartupError.
void dropPrivileges(const std::optional<RunAs> &runAs, bool keepNetRaw);

}  // namespace sockbridge
