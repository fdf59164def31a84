// SPDX-License-Identifier: MIT
// BCM messages: building bcm_msg_head requests and reading the kernel's notifications.
#include "core/bcm_message.h"

#include <linux/can.h>
#include <linux/can/bcm.h>

#include <algorithm>
#include <cstring>

namespace sockbridge {

namespace {

bcm_timeval toTimeval(std::chrono::nanoseconds value)
{
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(value).count();
    bcm_timeval tv{};
    tv.tv_sec = long(us / 1'000'000);
    tv.tv_usec = long(us % 1'000'000);
    return tv;
}

canfd_frame toKernel(const CanFrame &frame)
{
    canfd_frame raw{};
    raw.can_id = frame.id;
    raw.len = std::min<uint8_t>(frame.len, frame.isFd() ? CANFD_MAX_DLEN : CAN_MAX_DLEN);
    raw.flags = frame.isFd() ? uint8_t(frame.flags & (CANFD_BRS | CANFD_ESI)) : 0;
    std::memcpy(raw.data, frame.data.data(), raw.len);
    return raw;
}

// The head, then each frame in its kernel size (CAN_MTU, or CANFD_MTU with CAN_FD_FRAME).
std::vector<uint8_t> build(const bcm_msg_head &head, std::span<const canfd_frame> frames)
{
    const size_t frameSize = (head.flags & CAN_FD_FRAME) ? CANFD_MTU : CAN_MTU;
    std::vector<uint8_t> out(sizeof(head) + frames.size() * frameSize);
    std::memcpy(out.data(), &head, sizeof(head));
    for (size_t i = 0; i < frames.size(); ++i)
        std::memcpy(out.data() + sizeof(head) + i * frameSize, &frames[i], frameSize);
    return out;
}

}  // namespace

std::vector<uint8_t> bcmRequestBytes(const BcmRequest &request)
{
    bcm_msg_head head{};
    head.opcode = request.opcode;
    head.flags = request.flags;
    head.count = request.count;
    head.ival1 = toTimeval(request.ival1);
    head.ival2 = toTimeval(request.ival2);
    head.can_id = request.id;
    head.nframes = uint32_t(request.frames.size());
    std::vector<canfd_frame> frames;
    for (const CanFrame &frame : request.frames) frames.push_back(toKernel(frame));
    return build(head, frames);
}

/**
 * \brief TX_SETUP with SETTIMER|STARTTIMER|TX_ANNOUNCE: the first frame goes at once
 *
 * count and ival1 carry `count` and `firstInterval`, ival2 the `interval`; CAN_FD_FRAME for
 * an FD frame (the frame is then a canfd_frame of 72 bytes).
 */
std::vector<uint8_t> bcmTxSetup(const BcmTxJob &job)
{
    bcm_msg_head head{};
    head.opcode = TX_SETUP;
    head.flags = SETTIMER | STARTTIMER | TX_ANNOUNCE | (job.frame.isFd() ? CAN_FD_FRAME : 0);
    head.count = job.count;
    if (job.count) head.ival1 = toTimeval(job.firstInterval);
    head.ival2 = toTimeval(job.interval);
    head.can_id = job.frame.id;
    head.nframes = 1;
    canfd_frame frame = toKernel(job.frame);
    return build(head, {&frame, 1});
}

/**
 * \brief RX_SETUP: RX_FILTER_ID without a mask, else one mask frame with RX_CHECK_DLC
 *
 * SETTIMER with ival1 = timeout and ival2 = throttle when either is set; STARTTIMER when there
 * is a timeout, so an id that never comes is reported too; RX_ANNOUNCE_RESUME, so the first
 * frame after a timeout is delivered even when unchanged. The mask is padded with zeros.
 */
std::vector<uint8_t> bcmRxSetup(const BcmRxJob &job)
{
    bcm_msg_head head{};
    head.opcode = RX_SETUP;
    head.can_id = job.id;
    if (job.fd) head.flags |= CAN_FD_FRAME;
    if (job.timeout.count() || job.throttle.count()) {
        head.flags |= SETTIMER;
        head.ival1 = toTimeval(job.timeout);
        head.ival2 = toTimeval(job.throttle);
    }
    if (job.timeout.count()) head.flags |= STARTTIMER | RX_ANNOUNCE_RESUME;
    if (!job.mask) {
        head.flags |= RX_FILTER_ID;
        return build(head, {});
    }
    head.flags |= RX_CHECK_DLC;
    head.nframes = 1;
    canfd_frame mask{};
    mask.can_id = job.id;
    mask.len = uint8_t(std::min<size_t>(job.mask->size(), job.fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN));
    std::memcpy(mask.data, job.mask->data(), mask.len);
    return build(head, {&mask, 1});
}

/** \brief TX_SEND: one frame now (CAN_FD_FRAME for an FD frame) */
std::vector<uint8_t> bcmTxSend(const CanFrame &frame)
{
    bcm_msg_head head{};
    head.opcode = TX_SEND;
    head.flags = frame.isFd() ? CAN_FD_FRAME : 0;
    head.can_id = frame.id;
    head.nframes = 1;
    canfd_frame raw = toKernel(frame);
    return build(head, {&raw, 1});
}

/**
 * \brief Reads RX_CHANGED (with its frame) and RX_TIMEOUT (no frame); other opcodes are Other
 *
 * The frame's size follows CAN_FD_FRAME in the head's flags; an FD frame gets kFdf.
 */
std::optional<BcmEvent> parseBcmMessage(std::span<const uint8_t> bytes)
{
    bcm_msg_head head;
    if (bytes.size() < sizeof(head)) return std::nullopt;
    std::memcpy(&head, bytes.data(), sizeof(head));
    const bool fd = head.flags & CAN_FD_FRAME;
    const size_t frameSize = fd ? CANFD_MTU : CAN_MTU;
    if (head.nframes > 256 || bytes.size() != sizeof(head) + head.nframes * frameSize) return std::nullopt;
    BcmEvent event;
    event.opcode = head.opcode;
    event.id = head.can_id;
    event.kind = head.opcode == RX_CHANGED ? BcmEvent::Kind::Changed
                 : head.opcode == RX_TIMEOUT ? BcmEvent::Kind::Timeout
                                             : BcmEvent::Kind::Other;
    if (head.nframes) {
        canfd_frame raw{};
        std::memcpy(&raw, bytes.data() + sizeof(head), frameSize);
        CanFrame frame;
        frame.id = raw.can_id;
        frame.len = std::min<uint8_t>(raw.len, fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN);
        if (fd) frame.flags = uint8_t((raw.flags & (CANFD_BRS | CANFD_ESI)) | CanFrame::kFdf);
        std::memcpy(frame.data.data(), raw.data, frame.len);
        event.frame = frame;
    }
    if (event.kind == BcmEvent::Kind::Changed && !event.frame) return std::nullopt;
    return event;
}

}  // namespace sockbridge
