// SPDX-License-Identifier: MIT
// CanFrame: the canonical (LINKTYPE_CAN_SOCKETCAN) bytes of a CAN or CAN FD frame.
#include "core/can_frame.h"

#include <algorithm>

namespace sockbridge {

namespace {

constexpr size_t kHeaderSize = 8;

}  // namespace

bool isValidFdLength(size_t len)
{
    return len <= 8 || len == 12 || len == 16 || len == 20 || len == 24 || len == 32 || len == 48 || len == 64;
}

/**
 * \brief Appends the 8-byte header and the payload
 *
 * The id goes big-endian with its flag bits, the FD flags only for FD frames (kFdf set).
 */
void CanFrame::appendTo(std::vector<uint8_t> &out) const
{
    const uint8_t length = std::min<uint8_t>(len, isFd() ? 64 : 8);
    // One resize, not a growth step per byte: an empty vector would reallocate five times.
    const size_t at = out.size();
    out.resize(at + kHeaderSize + length);
    uint8_t *bytes = out.data() + at;
    bytes[0] = uint8_t(id >> 24);
    bytes[1] = uint8_t(id >> 16);
    bytes[2] = uint8_t(id >> 8);
    bytes[3] = uint8_t(id);
    bytes[4] = length;
    bytes[5] = isFd() ? uint8_t(flags & (kBrs | kEsi | kFdf)) : 0;
    bytes[6] = 0;
    bytes[7] = 0;
    std::copy(data.begin(), data.begin() + length, bytes + kHeaderSize);
}

/**
 * \brief Reads canonical bytes back into a frame
 *
 * Rejects (nullopt) fewer than 8 bytes, a length byte that disagrees with the bytes that
 * follow, more than 8 bytes on a classic frame or a length CAN FD cannot carry, FD flags on a
 * classic frame or unknown flag bits, RTR on an FD frame, and a standard id above 0x7FF. Error
 * frames (kErrFlag) keep the 29-bit error class in the id.
 */
std::optional<CanFrame> CanFrame::parse(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kHeaderSize) return std::nullopt;
    CanFrame frame;
    frame.id = uint32_t(bytes[0]) << 24 | uint32_t(bytes[1]) << 16 | uint32_t(bytes[2]) << 8 | bytes[3];
    frame.len = bytes[4];
    frame.flags = bytes[5];
    if (bytes.size() != kHeaderSize + frame.len) return std::nullopt;
    if (frame.flags & ~(kBrs | kEsi | kFdf)) return std::nullopt;
    if (frame.isFd()) {
        if (!isValidFdLength(frame.len) || frame.isRtr()) return std::nullopt;
    } else {
        if (frame.flags || frame.len > 8) return std::nullopt;
    }
    if (!frame.isExtended() && !frame.isError() && (frame.id & kEffMask) > kSffMask) return std::nullopt;
    std::copy(bytes.begin() + kHeaderSize, bytes.end(), frame.data.begin());
    return frame;
}

std::optional<CanFrame> frameForBus(const Message &message, bool fdAllowed, const char *&why)
{
    std::optional<CanFrame> frame = CanFrame::parse(message.data);
    why = message.kind == MessageKind::CanTimeout ? "a can-bcm timeout is not a frame"
          : !frame                                ? "it is not a valid CAN frame"
          : frame->isError()                      ? "error frames are not written to a bus"
          : frame->isFd() && !fdAllowed           ? "it is a CAN FD frame and 'fd' is off"
                                                  : nullptr;
    if (why) return std::nullopt;
    return frame;
}

}  // namespace sockbridge
