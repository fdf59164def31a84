// SPDX-License-Identifier: MIT
// CanFrame: a CAN or CAN FD frame, and its canonical bytes in a Message (kind CanFrame).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/message.h"

namespace sockbridge {

// The Message bytes of a CAN frame are the pcap LINKTYPE_CAN_SOCKETCAN (227) layout, so pcap
// logs write them as they are:
//   u32 can_id, big-endian, with the kernel's flags in the top bits (CAN_EFF_FLAG 0x80000000,
//       CAN_RTR_FLAG 0x40000000, CAN_ERR_FLAG 0x20000000)
//   u8  payload length (0..8 classic, 0..64 FD)
//   u8  FD flags: CANFD_BRS 0x01, CANFD_ESI 0x02, CANFD_FDF 0x04 (set for every FD frame)
//   u8  reserved (0), u8 reserved (0)
//   the payload bytes

struct CanFrame {
    static constexpr uint32_t kEffFlag = 0x80000000u;
    static constexpr uint32_t kRtrFlag = 0x40000000u;
    static constexpr uint32_t kErrFlag = 0x20000000u;
    static constexpr uint32_t kSffMask = 0x000007ffu;
    static constexpr uint32_t kEffMask = 0x1fffffffu;
    static constexpr uint8_t kBrs = 0x01;
    static constexpr uint8_t kEsi = 0x02;
    static constexpr uint8_t kFdf = 0x04;

    uint32_t id = 0;  // with kEffFlag/kRtrFlag/kErrFlag as the kernel's can_id
    uint8_t len = 0;
    uint8_t flags = 0;  // kBrs, kEsi, kFdf
    std::array<uint8_t, 64> data{};

    bool isFd() const { return flags & kFdf; }
    bool isExtended() const { return id & kEffFlag; }
    bool isRtr() const { return id & kRtrFlag; }
    bool isError() const { return id & kErrFlag; }
    uint32_t rawId() const { return id & (isExtended() ? kEffMask : kSffMask); }

    // Appends the canonical bytes (see above).
    void appendTo(std::vector<uint8_t> &out) const;
    // Parses canonical bytes; nullopt when they are not a valid frame (short, length over 8 on a
    // classic frame or over 64, a length that is not a valid FD length, trailing bytes).
    static std::optional<CanFrame> parse(std::span<const uint8_t> bytes);
};

// CAN FD carries 0..8, 12, 16, 20, 24, 32, 48 or 64 bytes (the lengths a DLC can say).
bool isValidFdLength(size_t len);

// The frame a message asks to put on a bus, or nullopt with `why` it must not go there: not a
// valid frame, a can-bcm timeout, an error frame, or CAN FD on a socket without FD.
std::optional<CanFrame> frameForBus(const Message &message, bool fdAllowed, const char *&why);

// The message asked for another bus (Message::target, a socketcand session's): a listener on
// `interface` passes it by, as it was never meant for it.
inline bool addressedElsewhere(const Message &message, std::string_view interface)
{
    return !message.target.empty() && message.target != interface;
}

}  // namespace sockbridge
