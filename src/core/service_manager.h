// SPDX-License-Identifier: MIT
// The service manager's side channel: sd_notify states, sockets passed in, the watchdog interval.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.h"

namespace sockbridge {

// True when a service manager listens for notifications ($NOTIFY_SOCKET is set).
bool underServiceManager();
// Sends "READY=1", "STATUS=...", ... to the service manager; a no-op outside systemd or without
// libsystemd. Returns false when it could not be sent.
bool notifyServiceManager(std::string_view state);
// WatchdogSec= as the manager passed it ($WATCHDOG_USEC for this pid); nullopt when off.
std::optional<std::chrono::microseconds> watchdogInterval();

// Sockets passed by systemd (socket activation), by FileDescriptorName=; several sockets may
// share a name. Empty when none were passed; throws StartupError when built without libsystemd
// and $LISTEN_FDS is set.
std::map<std::string, std::vector<UniqueFd>> takeInheritedSockets();

}  // namespace sockbridge
