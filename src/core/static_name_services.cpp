// SPDX-License-Identifier: MIT
// A fully static build (-Dstatic=full) looks names up only through glibc's built-in NSS modules.
// A static glibc loads the other services of /etc/nsswitch.conf (systemd, ldap, sss) as shared
// libraries linked against the shared libc, and crashes in them: with Debian's "group: files
// systemd", an unknown group sent getgrnam into libnss_systemd and SIGSEGV. So users and groups
// come from /etc/passwd and /etc/group, hosts from /etc/hosts and DNS (docs/packaging.md).
// Built into every executable of such a build (not into the core library, where nothing would pull
// this object in), it runs before main.
#include <nss.h>

#include <cstdio>

namespace {

struct Database {
    const char *name;
    const char *services;
};

constexpr Database kBuiltinOnly[] = {
    {"passwd", "files"},    {"group", "files"},    {"initgroups", "files"}, {"shadow", "files"},
    {"hosts", "files dns"}, {"services", "files"}, {"protocols", "files"},  {"networks", "files"},
};

__attribute__((constructor)) void useBuiltinNameServicesOnly()
{
    for (const Database &database : kBuiltinOnly) {
        if (__nss_configure_lookup(database.name, database.services) != 0)
            std::fprintf(stderr, "Failed to restrict NSS database '%s' to '%s'\n", database.name,
                         database.services);
    }
}

}  // namespace
