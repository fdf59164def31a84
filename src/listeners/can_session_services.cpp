// SPDX-License-Identifier: MIT
// canSessionServices: CAN_BCM sockets and interface counters for socketcand sessions.
#include "listeners/can_session_services.h"

#include <linux/can.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace sockbridge {

namespace {

bool validInterfaceName(std::string_view name)
{
    return !name.empty() && name.size() < IFNAMSIZ && name != "." && name != ".." &&
           name.find('/') == std::string_view::npos;
}

UniqueFd openBcmSocket(std::string_view bus, std::string &why)
{
    if (!validInterfaceName(bus)) {
        why = "not an interface name";
        return {};
    }
    const std::string name(bus);
    const unsigned ifindex = if_nametoindex(name.c_str());
    if (!ifindex) {
        why = fmt::format("no interface {}", name);
        return {};
    }
    UniqueFd fd(::socket(PF_CAN, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_BCM));
    if (!fd) {
        why = fmt::format("cannot open a CAN_BCM socket: {}", std::strerror(errno));
        return {};
    }
    int on = 1;
    // RX_CHANGED carries the received frame's kernel time, as socketcand's SIOCGSTAMP reads it.
    setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    sockaddr_can address{};
    address.can_family = AF_CAN;
    address.can_ifindex = int(ifindex);
    if (::connect(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
        why = errno == ENODEV ? fmt::format("{} is not a CAN interface", name)
                              : fmt::format("cannot connect a CAN_BCM socket to {}: {}", name, std::strerror(errno));
        return {};
    }
    return fd;
}

std::optional<uint64_t> readCounter(const std::string &directory, const char *file)
{
    std::ifstream in(directory + file);
    uint64_t value = 0;
    if (!(in >> value)) return std::nullopt;
    return value;
}

std::optional<LinkCounters> readLinkCounters(std::string_view interface)
{
    if (!validInterfaceName(interface)) return std::nullopt;
    const std::string directory = fmt::format("/sys/class/net/{}/statistics/", interface);
    auto rxBytes = readCounter(directory, "rx_bytes");
    auto rxPackets = readCounter(directory, "rx_packets");
    auto txBytes = readCounter(directory, "tx_bytes");
    auto txPackets = readCounter(directory, "tx_packets");
    if (!rxBytes || !rxPackets || !txBytes || !txPackets) return std::nullopt;
    return LinkCounters{*rxBytes, *rxPackets, *txBytes, *txPackets};
}

}  // namespace

std::shared_ptr<const SessionServices> canSessionServices()
{
    static const auto services = std::make_shared<const SessionServices>(SessionServices{&openBcmSocket, &readLinkCounters});
    return services;
}

}  // namespace sockbridge
