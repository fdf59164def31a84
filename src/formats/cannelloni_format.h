// SPDX-License-Identifier: MIT
// CannelloniFormat: CAN frames as cannelloni sends them, over UDP (v2 packets) and TCP (CANNELLONIv1).
#pragma once

#include <array>
#include <string_view>

#include "core/can_frame.h"
#include "formats/format.h"

namespace sockbridge {

// One frame on the wire, the same in UDP packets and on TCP: u32 can_id big-endian with its
// flags; a length byte, with 0x80 set for CAN FD and then a flags byte (BRS, ESI); the data,
// none for remote (RTR) frames. See docs/formats.md.
class CannelloniFrameReader {
public:
    static constexpr size_t kMaxSize = 4 + 1 + 1 + 64;

    // Takes bytes from the front of `bytes` until a frame is whole. Returns 1 with the frame's
    // canonical bytes appended to `out` when it is, 0 when more is needed (all of `bytes` was
    // taken), -1 when the bytes cannot be a frame (`error` says why).
    int read(std::span<const uint8_t> &bytes, std::vector<Payload> &out, std::string &error);
    size_t pending() const { return size_; }
    // The size of the frame being read, once its length byte is in; 0 before.
    size_t expected() const { return expected_; }
    void reset() { size_ = expected_ = 0; }

private:
    bool check(std::string &error);

    std::array<uint8_t, kMaxSize> bytes_{};
    size_t size_ = 0;
    size_t expected_ = 0;
};

struct CannelloniFormat {
    static constexpr uint8_t kVersion = 2;  // CANNELLONI_FRAME_VERSION
    static constexpr uint8_t kOpData = 0;   // op codes: DATA 0, ACK 1, NACK 2
    static constexpr size_t kHeaderSize = 5;
    static constexpr uint8_t kFdLength = 0x80;  // CANFD_FRAME: set in the length byte of FD frames

    // Appends one frame in the wire encoding; false when `message` is not a CAN frame.
    static bool appendFrame(const Message &message, std::vector<uint8_t> &out);

    // One packet per datagram: the 5-byte header (version 2, DATA, seq_no, u16 count), then
    // `count` frames and nothing else. Sequence numbers that skip ahead count as lost packets.
    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return headerSize_ + frame_.pending(); }

    private:
        bool fail(std::string why);
        bool readHeader();
        // False for a late or repeated packet (its frames are dropped).
        bool countGap(uint8_t seq);
        void reset();

        bool failed_ = false;
        std::array<uint8_t, kHeaderSize> header_{};
        size_t headerSize_ = 0;  // bytes of header_ received so far
        bool inPacket_ = false;  // the header is in: framesLeft_ frames follow
        bool packetDone_ = false;
        size_t count_ = 0;
        size_t framesLeft_ = 0;
        CannelloniFrameReader frame_;
        std::vector<Payload> frames_;  // the packet's frames, yielded once it proved whole
        bool haveSeq_ = false;
        uint8_t expectedSeq_ = 0;
        bool late_ = false;  // the packet being read came after a later one: not delivered
    };

    // encode(): a packet of one frame. batching(): packets of as many frames as the mtu holds.
    // Each packet takes the next sequence number.
    class Encoder final : public sockbridge::Encoder, public BatchEncoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
        BatchEncoder *batching() override { return this; }

        void begin(std::vector<uint8_t> &out) override;
        bool add(const Message &message, std::vector<uint8_t> &out) override;
        void end(std::vector<uint8_t> &out, size_t count) override;

    private:
        uint8_t seq_ = 0;
    };
};

// cannelloni's TCP protocol: each side sends "CANNELLONIv1" on connect, then frames follow one
// after another, without packet headers.
struct CannelloniTcpFormat {
    static constexpr std::string_view kHandshake = "CANNELLONIv1";

    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(const FormatOptions &options);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override;

    private:
        bool failed_ = false;
        size_t handshakeSize_ = 0;  // bytes of the peer's handshake received so far
        CannelloniFrameReader frame_;
    };

    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(const FormatOptions &options);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
        void greet(std::vector<uint8_t> &out) override;
    };
};

}  // namespace sockbridge
