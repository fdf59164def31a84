// SPDX-License-Identifier: MIT
// socketcand's discovery beacon: the datagram a socketcand server broadcasts to UDP port 42000.
#pragma once

#include <string>

#include "formats/format.h"

namespace sockbridge {

inline constexpr uint16_t kSocketcandBeaconPort = 42000;

// `<CANBeacon name="host" type="SocketCAN" description="sockbridge">\n<URL>can://10.0.0.1:29536</URL>
// <Bus name="can0"/></CANBeacon>`, byte for byte as socketcand's beacon.c writes it, so that its
// clients (python-can's detect_beacon, Kayak) find the server at `server`.
std::string socketcandBeacon(const FormatOptions &options, const SocketAddress &server);

}  // namespace sockbridge
