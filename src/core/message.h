// SPDX-License-Identifier: MIT
// Message: the unit that routes move between listeners, logs and formats.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sockbridge {

enum class MessageKind : uint8_t {
    Bytes,     // a piece of a byte stream (a frame when a stream format framed it)
    Datagram,  // one datagram
    CanFrame,  // one CAN or CAN FD frame
    // A can-bcm receive job's timeout: its id was not seen for the job's 'timeout'. The bytes
    // are a CanFrame's canonical bytes with the job's id and no payload; never written to a bus.
    CanTimeout,
    Packet,    // one captured link-layer or IP packet
};

const char *messageKindName(MessageKind kind);

// pcap link types of the messages the daemon produces (https://www.tcpdump.org/linktypes.html).
inline constexpr uint16_t kLinkTypeEthernet = 1;
inline constexpr uint16_t kLinkTypeRaw = 101;
inline constexpr uint16_t kLinkTypeCanSocketCan = 227;
inline constexpr uint16_t kLinkTypeLinuxSll2 = 276;

struct Message {
    MessageKind kind = MessageKind::Bytes;
    std::vector<uint8_t> data;
    int64_t timestampNs = 0;    // CLOCK_REALTIME, nanoseconds since the epoch
    std::string source;         // name of the listener it came from
    std::string peer;           // "127.0.0.1:5000", "[::1]:5000", "@name", "/path", or ""
    uint64_t connectionId = 0;  // the stream connection it came from, 0 when none
    // Packets and CAN frames: the pcap link type of `data` (LINKTYPE_ETHERNET = 1, LINKTYPE_RAW
    // = 101, LINKTYPE_LINUX_SLL2 = 276, LINKTYPE_CAN_SOCKETCAN = 227), the length on the wire
    // before any snap-length cut, and the interface it was seen on. 0 when not known.
    uint16_t linkType = 0;
    uint32_t wireLength = 0;
    int32_t ifindex = 0;
    // Where the sender asked it to go (the bus a socketcand session opened): listeners for
    // another place skip it. Empty: every listener the routes take it to.
    std::string target;

    size_t size() const { return data.size(); }
};

// Messages are immutable once emitted, so fan-out shares one copy.
using MessagePtr = std::shared_ptr<const Message>;

int64_t realtimeNowNs();
// "2026-11-22T02:42:46.123456789Z": UTC, nanoseconds, as logs and jsonl write it.
std::string formatTimestamp(int64_t realtimeNs);

}  // namespace sockbridge
