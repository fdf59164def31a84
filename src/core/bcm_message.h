// SPDX-License-Identifier: MIT
// BCM messages: the bytes a CAN_BCM socket takes (TX_SETUP, RX_SETUP, TX_SEND) and gives (RX_CHANGED, RX_TIMEOUT).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/can_frame.h"

namespace sockbridge {

// A cyclic transmit job (TX_SETUP). With `count`, the first `count` frames go `firstInterval`
// apart (the first at once), then one every `interval`; `interval` 0 stops after `count`.
struct BcmTxJob {
    CanFrame frame;  // id with kEffFlag for extended, payload, kFdf (and kBrs) for CAN FD
    std::chrono::nanoseconds interval{0};
    uint32_t count = 0;
    std::chrono::nanoseconds firstInterval{0};
};

// A receive job (RX_SETUP) on one id. `mask` set: content filter, only changes of the masked
// bits (or of the length) are delivered; unset: every frame (RX_FILTER_ID). `throttle` limits
// deliveries to one per interval; `timeout` reports the id missing for that long.
struct BcmRxJob {
    uint32_t id = 0;  // with kEffFlag for extended
    bool fd = false;
    std::optional<std::vector<uint8_t>> mask;
    std::chrono::nanoseconds throttle{0};
    std::chrono::nanoseconds timeout{0};
};

// What a BCM socket reported.
struct BcmEvent {
    enum class Kind { Changed, Timeout, Other };
    Kind kind = Kind::Other;
    uint32_t opcode = 0;
    uint32_t id = 0;  // the job's can_id (kernel flags included)
    std::optional<CanFrame> frame;  // RX_CHANGED: the frame received
};

// Any request: the head's fields as the kernel's struct bcm_msg_head has them (opcode and flags
// from linux/can/bcm.h), then its frames (canfd_frame each when flags has CAN_FD_FRAME).
struct BcmRequest {
    uint32_t opcode = 0;
    uint32_t flags = 0;
    uint32_t count = 0;
    std::chrono::nanoseconds ival1{0};
    std::chrono::nanoseconds ival2{0};
    uint32_t id = 0;
    std::vector<CanFrame> frames;
};

// struct bcm_msg_head and its frames, as the kernel reads them (host byte order, native layout).
std::vector<uint8_t> bcmRequestBytes(const BcmRequest &request);
std::vector<uint8_t> bcmTxSetup(const BcmTxJob &job);
std::vector<uint8_t> bcmRxSetup(const BcmRxJob &job);
std::vector<uint8_t> bcmTxSend(const CanFrame &frame);
// nullopt when the bytes are not a whole BCM message.
std::optional<BcmEvent> parseBcmMessage(std::span<const uint8_t> bytes);

}  // namespace sockbridge
