// SPDX-License-Identifier: MIT
// One line per tapped message: candump-style for CAN frames, summaries for packets and bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockbridge {

// "(1700000000.123456)  can0  123   [4]  DE AD BE EF": like `candump -ta`, with the listener in
// place of the interface. `frame` is the canonical LINKTYPE_CAN_SOCKETCAN layout.
std::string formatCanFrame(std::span<const uint8_t> frame, int64_t timestampNs, std::string_view listener);
// "IPv4 10.0.0.1:1234 > 10.0.0.2:80 TCP" for a captured packet of the given pcap link type.
std::string summarizePacket(uint16_t linkType, std::span<const uint8_t> data);
// The bytes as a quoted, escaped string of at most `max` characters ("…" when cut).
std::string preview(std::span<const uint8_t> data, size_t max = 60);
// A tap event from the daemon (docs/control.md) as one line; "" for an event it does not know.
std::string formatTapEvent(const nlohmann::json &event);

std::vector<uint8_t> fromHex(std::string_view hex);

}  // namespace sockbridge
