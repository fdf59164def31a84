// SPDX-License-Identifier: MIT
// KernelDropCounter: SO_MEMINFO's drop count, turned into the kernel_drops counter.
#include "core/kernel_drops.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include "core/log.h"

namespace sockbridge {

void KernelDropCounter::count(int fd, const std::string &listener, Counters &counters)
{
    if (fd < 0) return;
    uint32_t info[SK_MEMINFO_VARS] = {};
    socklen_t length = sizeof(info);
    if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &length) < 0 || length <= SK_MEMINFO_DROPS * 4) return;
    const uint32_t drops = info[SK_MEMINFO_DROPS];
    if (drops == seen_) return;
    const uint32_t added = drops - seen_;  // modulo 2^32, as the kernel's counter wraps
    logf(warned_ ? LogLevel::Debug : LogLevel::Warning,
         "Listener '{}': the kernel dropped {} {} (receive buffer full; see receive_buffer)", listener, added, what_);
    warned_ = true;
    counters.kernelDrops += added;
    seen_ = drops;
}

}  // namespace sockbridge
