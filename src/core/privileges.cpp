// SPDX-License-Identifier: MIT
// Privilege drop through setgroups/setresgid/setresuid and capset, without libcap.
#include "core/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "core/listener.h"
#include "core/log.h"

namespace sockbridge {

namespace {

StartupError failure(const std::string &what)
{
    return StartupError(fmt::format("Failed to drop privileges: {}: {}", what, std::strerror(errno)));
}

// Effective and permitted become `keep` (within what is permitted now); inheritable and ambient
// become empty, so nothing the daemon might run inherits them.
void limitCapabilities(bool keepNetRaw)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) < 0) throw failure("capget");
    const uint32_t rawBit = 1u << CAP_NET_RAW;  // CAP_NET_RAW (13) is in the first word
    const bool hadRaw = data[0].permitted & rawBit;
    for (auto &word : data) {
        word.effective = 0;
        word.permitted = 0;
        word.inheritable = 0;
    }
    if (keepNetRaw && hadRaw) data[0].effective = data[0].permitted = rawBit;
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (::syscall(SYS_capset, &header, data) < 0) throw failure("capset");
    if (keepNetRaw && !hadRaw)
        logf(LogLevel::Warning, "A packet or raw listener needs CAP_NET_RAW, which the daemon does not have");
}

}  // namespace

void dropPrivileges(const std::optional<RunAs> &runAs, bool keepNetRaw)
{
    if (runAs && ::geteuid() == 0 && runAs->uid != 0) {
        if (keepNetRaw && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) throw failure("prctl(PR_SET_KEEPCAPS)");
        gid_t gid = runAs->gid;
        if (::setgroups(1, &gid) < 0) throw failure("setgroups");
        if (::setresgid(gid, gid, gid) < 0) throw failure(fmt::format("setresgid({})", gid));
        if (::setresuid(runAs->uid, runAs->uid, runAs->uid) < 0) throw failure(fmt::format("setresuid({})", runAs->uid));
        ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
        logf(LogLevel::Notice, "Dropped privileges to user '{}' (uid {}, gid {}){}", runAs->user, runAs->uid, gid,
             keepNetRaw ? ", keeping CAP_NET_RAW" : "");
    } else if (runAs && ::geteuid() != runAs->uid) {
        logf(LogLevel::Warning, "Failed to drop privileges to user '{}': not running as root, ignoring", runAs->user);
    }
    if (::geteuid() != 0) limitCapabilities(keepNetRaw);
}

}  // namespace sockbridge
