// SPDX-License-Identifier: MIT
// sd_notify, sd_listen_fds_with_names and sd_watchdog_enabled, or their absence without libsystemd.
#include "core/service_manager.h"

#include <fcntl.h>

#include <fmt/core.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "build_config.h"
#include "core/listener.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace sockbridge {

bool underServiceManager()
{
    const char *socket = std::getenv("NOTIFY_SOCKET");
    return socket && *socket;
}

bool notifyServiceManager([[maybe_unused]] std::string_view state)
{
#if HAVE_SYSTEMD
    std::string text(state);
    return sd_notify(0, text.c_str()) > 0;
#else
    return false;
#endif
}

std::optional<std::chrono::microseconds> watchdogInterval()
{
#if HAVE_SYSTEMD
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
#endif
    return std::nullopt;
}

std::map<std::string, std::vector<UniqueFd>> takeInheritedSockets()
{
    std::map<std::string, std::vector<UniqueFd>> sockets;
#if HAVE_SYSTEMD
    char **names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);
    if (n < 0) throw StartupError(fmt::format("Failed to read the sockets passed by systemd: {}", std::strerror(-n)));
    for (int i = 0; i < n; ++i) {
        int fd = SD_LISTEN_FDS_START + i;
        std::string name = names && names[i] ? names[i] : "unknown";
        // Listeners expect non-blocking sockets; sd_listen_fds already set FD_CLOEXEC.
        int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        sockets[name].emplace_back(fd);
        if (names) std::free(names[i]);
    }
    std::free(names);
#else
    if (std::getenv("LISTEN_FDS"))
        throw StartupError("Failed to use the sockets passed by systemd: sockbridged was built without libsystemd "
                           "(-Dsystemd=disabled), so socket activation is not available");
#endif
    return sockets;
}

}  // namespace sockbridge
