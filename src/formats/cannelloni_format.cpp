// SPDX-License-Identifier: MIT
// CannelloniFormat: CAN frames as cannelloni sends them, over UDP (v2 packets) and TCP (CANNELLONIv1).
#include "formats/cannelloni_format.h"

#include <algorithm>

#include <fmt/format.h>

namespace sockbridge {

namespace {

constexpr size_t kIdLengthSize = 5;  // can_id and the length byte: what every frame starts with

uint32_t bigEndian32(const uint8_t *p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

}  // namespace

/**
 * \class CannelloniFrameReader
 * \brief Reads one frame at a time from bytes that may be split anywhere
 *
 * The frame is checked as soon as its length byte is in: a classic frame carries at most 8
 * bytes, a CAN FD frame one of the lengths a DLC can say, CAN FD has no remote frames, and a
 * standard id (no EFF flag) fits 11 bits. The frame is yielded in the canonical CanFrame bytes;
 * a remote frame keeps its length (the DLC) with zero data bytes.
 */
int CannelloniFrameReader::read(std::span<const uint8_t> &bytes, std::vector<Payload> &out, std::string &error)
{
    while (true) {
        const size_t want = expected_ ? expected_ : kIdLengthSize;
        const size_t n = std::min(want - size_, bytes.size());
        std::copy_n(bytes.begin(), n, bytes_.begin() + ptrdiff_t(size_));
        size_ += n;
        bytes = bytes.subspan(n);
        if (size_ < want) return 0;
        if (!expected_) {
            if (!check(error)) return -1;
            if (size_ < expected_) continue;
        }
        break;
    }

    CanFrame frame;
    frame.id = bigEndian32(bytes_.data());
    const bool fd = bytes_[4] & CannelloniFormat::kFdLength;
    frame.len = bytes_[4] & ~CannelloniFormat::kFdLength;
    if (fd) frame.flags = uint8_t((bytes_[5] & (CanFrame::kBrs | CanFrame::kEsi)) | CanFrame::kFdf);
    if (!frame.isRtr()) std::copy_n(bytes_.begin() + (fd ? 6 : 5), frame.len, frame.data.begin());
    Payload payload;
    payload.reserve(8 + frame.len);
    frame.appendTo(payload);
    out.push_back(std::move(payload));
    reset();
    return 1;
}

bool CannelloniFrameReader::check(std::string &error)
{
    const uint32_t id = bigEndian32(bytes_.data());
    const bool fd = bytes_[4] & CannelloniFormat::kFdLength;
    const size_t len = bytes_[4] & ~CannelloniFormat::kFdLength;
    const bool rtr = id & CanFrame::kRtrFlag;
    if (!fd && len > 8) {
        error = fmt::format("a classic CAN frame of {} bytes (at most 8)", len);
        return false;
    }
    if (fd && !isValidFdLength(len)) {
        error = fmt::format("a CAN FD frame of {} bytes (CAN FD carries 0-8, 12, 16, 20, 24, 32, 48 or 64)", len);
        return false;
    }
    if (fd && rtr) {
        error = fmt::format("a CAN FD frame with the RTR flag (id 0x{:08x}): CAN FD has no remote frames", id);
        return false;
    }
    if (!(id & (CanFrame::kEffFlag | CanFrame::kErrFlag)) && (id & CanFrame::kEffMask) > CanFrame::kSffMask) {
        error = fmt::format("a standard id over 11 bits (0x{:x}) without the EFF flag", id & CanFrame::kEffMask);
        return false;
    }
    expected_ = kIdLengthSize + (fd ? 1 : 0) + (rtr ? 0 : len);
    return true;
}

/**
 * \brief Appends one frame in cannelloni's encoding
 * \return False, with nothing appended, when the message is not a valid CAN frame
 *
 * The FD flags byte carries BRS and ESI; the FD-ness itself is the 0x80 bit of the length.
 */
bool CannelloniFormat::appendFrame(const Message &message, std::vector<uint8_t> &out)
{
    if (message.kind != MessageKind::CanFrame) return false;
    const std::optional<CanFrame> frame = CanFrame::parse(message.data);
    if (!frame) return false;
    out.push_back(uint8_t(frame->id >> 24));
    out.push_back(uint8_t(frame->id >> 16));
    out.push_back(uint8_t(frame->id >> 8));
    out.push_back(uint8_t(frame->id));
    if (frame->isFd()) {
        out.push_back(uint8_t(frame->len | kFdLength));
        out.push_back(uint8_t(frame->flags & (CanFrame::kBrs | CanFrame::kEsi)));
    } else {
        out.push_back(frame->len);
    }
    if (!frame->isRtr()) out.insert(out.end(), frame->data.begin(), frame->data.begin() + frame->len);
    return true;
}

/**
 * \class CannelloniFormat::Decoder
 * \brief Reads one cannelloni packet per datagram
 *
 * A datagram is yielded whole or not at all: its frames come out of finish() once the packet
 * proved complete (version 2, op code DATA, exactly `count` valid frames, no bytes after them).
 * The sequence number of each packet is compared with the one expected: a packet up to 127
 * ahead means the ones in between were lost (Decoder::takeLost()); one behind is a late or
 * repeated packet: its frames are dropped, since passing them on would put them after frames
 * sent later (a late packet was counted lost when the one after it came first; a repeated one
 * holds duplicates). Frames leave in the order they were sent, or not at all.
 */
CannelloniFormat::Decoder::Decoder(const FormatOptions &)
{
}

bool CannelloniFormat::Decoder::fail(std::string why)
{
    failed_ = true;
    error_ = std::move(why);
    reset();
    return false;
}

void CannelloniFormat::Decoder::reset()
{
    headerSize_ = 0;
    inPacket_ = false;
    packetDone_ = false;
    count_ = framesLeft_ = 0;
    late_ = false;
    frame_.reset();
    frames_.clear();
}

bool CannelloniFormat::Decoder::countGap(uint8_t seq)
{
    if (!haveSeq_) {
        haveSeq_ = true;
        expectedSeq_ = uint8_t(seq + 1);
        return true;
    }
    const uint8_t ahead = uint8_t(seq - expectedSeq_);
    if (ahead >= 128) return false;  // late or repeated
    lost_ += ahead;
    expectedSeq_ = uint8_t(seq + 1);
    return true;
}

bool CannelloniFormat::Decoder::readHeader()
{
    if (header_[0] != kVersion) return fail(fmt::format("unsupported cannelloni version {}", header_[0]));
    if (header_[1] != kOpData)
        return fail(fmt::format("unsupported cannelloni op code {} (only DATA, 0, carries frames)", header_[1]));
    late_ = !countGap(header_[2]);
    count_ = framesLeft_ = size_t(header_[3]) << 8 | header_[4];
    inPacket_ = true;
    packetDone_ = count_ == 0;
    return true;
}

bool CannelloniFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &)
{
    if (failed_) return false;
    while (!bytes.empty()) {
        if (packetDone_)
            return fail(fmt::format("{} bytes after the packet's {} frames (a datagram holds one packet)",
                                    bytes.size(), count_));
        if (!inPacket_) {
            const size_t n = std::min(kHeaderSize - headerSize_, bytes.size());
            std::copy_n(bytes.begin(), n, header_.begin() + ptrdiff_t(headerSize_));
            headerSize_ += n;
            bytes = bytes.subspan(n);
            if (headerSize_ < kHeaderSize) break;
            if (!readHeader()) return false;
            continue;
        }
        std::string why;
        const int read = frame_.read(bytes, frames_, why);
        if (read < 0) return fail(fmt::format("frame {} of {}: {}", count_ - framesLeft_ + 1, count_, why));
        if (read == 0) break;
        packetDone_ = --framesLeft_ == 0;
    }
    return true;
}

/**
 * \brief Ends the datagram: yields its frames when it held one whole packet
 * \return False when the datagram ended inside the header or before `count` frames
 */
bool CannelloniFormat::Decoder::finish(std::vector<Payload> &out)
{
    if (failed_) return false;
    if (headerSize_ == 0) return true;  // nothing since the last datagram
    if (!inPacket_)
        return fail(fmt::format("a datagram of {} bytes, shorter than the {}-byte header", headerSize_, kHeaderSize));
    if (!packetDone_) {
        return fail(fmt::format("the packet ended after {} of its {} frames{}", count_ - framesLeft_, count_,
                                frame_.pending() ? fmt::format(" and {} bytes of the next", frame_.pending()) : ""));
    }
    if (!late_)
        for (auto &frame : frames_) out.push_back(std::move(frame));
    reset();
    return true;
}

/**
 * \class CannelloniFormat::Encoder
 * \brief Writes cannelloni v2 packets; as a BatchEncoder, many frames to a packet
 *
 * Only CAN frame messages can be encoded. Every packet, batched or not, takes the next u8
 * sequence number, starting at 0 and wrapping.
 */
CannelloniFormat::Encoder::Encoder(const FormatOptions &)
{
}

bool CannelloniFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    const size_t start = out.size();
    out.insert(out.end(), {kVersion, kOpData, seq_, 0, 1});
    if (!appendFrame(message, out)) {
        out.resize(start);
        return false;
    }
    ++seq_;
    return true;
}

void CannelloniFormat::Encoder::begin(std::vector<uint8_t> &out) { out.insert(out.end(), {kVersion, kOpData, 0, 0, 0}); }

bool CannelloniFormat::Encoder::add(const Message &message, std::vector<uint8_t> &out)
{
    return appendFrame(message, out);
}

void CannelloniFormat::Encoder::end(std::vector<uint8_t> &out, size_t count)
{
    out[2] = seq_++;
    out[3] = uint8_t(count >> 8);
    out[4] = uint8_t(count);
}

/**
 * \class CannelloniTcpFormat::Decoder
 * \brief Expects the peer's "CANNELLONIv1", then reads frames back to back
 *
 * A peer that starts with anything else fails the decoder at the first byte that differs.
 */
CannelloniTcpFormat::Decoder::Decoder(const FormatOptions &)
{
}

size_t CannelloniTcpFormat::Decoder::pending() const
{
    return (handshakeSize_ < kHandshake.size() ? handshakeSize_ : 0) + frame_.pending();
}

bool CannelloniTcpFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    if (failed_) return false;
    while (handshakeSize_ < kHandshake.size() && !bytes.empty()) {
        if (bytes.front() != uint8_t(kHandshake[handshakeSize_])) {
            failed_ = true;
            error_ = fmt::format("the peer did not send the cannelloni handshake \"{}\": byte {} is 0x{:02x}, not '{}'",
                                 kHandshake, handshakeSize_, bytes.front(), kHandshake[handshakeSize_]);
            return false;
        }
        ++handshakeSize_;
        bytes = bytes.subspan(1);
    }
    while (!bytes.empty()) {
        const int read = frame_.read(bytes, out, error_);
        if (read < 0) {
            failed_ = true;
            frame_.reset();
            return false;
        }
        if (read == 0) break;
    }
    return true;
}

/**
 * \brief Checks that the stream ended between two frames
 * \return False inside the handshake or a frame
 */
bool CannelloniTcpFormat::Decoder::finish(std::vector<Payload> &)
{
    if (failed_) return false;
    if (handshakeSize_ > 0 && handshakeSize_ < kHandshake.size()) {
        error_ = fmt::format("stream ended inside the cannelloni handshake ({} of {} bytes)", handshakeSize_,
                             kHandshake.size());
        failed_ = true;
        return false;
    }
    if (frame_.pending() == 0) return true;
    if (frame_.expected())
        error_ = fmt::format("stream ended inside a frame ({} of {} bytes)", frame_.pending(), frame_.expected());
    else
        error_ = fmt::format("stream ended inside a frame ({} bytes, before its length)", frame_.pending());
    failed_ = true;
    frame_.reset();
    return false;
}

/**
 * \class CannelloniTcpFormat::Encoder
 * \brief Greets with "CANNELLONIv1", then writes frames without packet headers
 */
CannelloniTcpFormat::Encoder::Encoder(const FormatOptions &)
{
}

bool CannelloniTcpFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    return CannelloniFormat::appendFrame(message, out);
}

void CannelloniTcpFormat::Encoder::greet(std::vector<uint8_t> &out)
{
    out.insert(out.end(), kHandshake.begin(), kHandshake.end());
}

}  // namespace sockbridge
