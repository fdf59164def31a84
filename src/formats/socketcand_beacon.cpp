// SPDX-License-Identifier: MIT
// socketcand's discovery beacon text.
#include "formats/socketcand_beacon.h"

#include <unistd.h>

#include <fmt/core.h>

namespace sockbridge {

namespace {

// The beacon is XML: a name or description must not end an attribute early.
std::string xmlAttribute(std::string_view text)
{
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string hostName()
{
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
    return name;
}

}  // namespace

std::string socketcandBeacon(const FormatOptions &options, const SocketAddress &server)
{
    const FormatOptions::Beacon beacon = options.beacon.value_or(FormatOptions::Beacon{});
    std::string text = fmt::format("<CANBeacon name=\"{}\" type=\"SocketCAN\" description=\"{}\">\n<URL>can://{}</URL>",
                                   xmlAttribute(beacon.name.empty() ? hostName() : beacon.name),
                                   xmlAttribute(beacon.description), server.toString());
    for (const std::string &bus : options.canBuses) text += fmt::format("<Bus name=\"{}\"/>", xmlAttribute(bus));
    text += "</CANBeacon>";
    return text;
}

}  // namespace sockbridge
