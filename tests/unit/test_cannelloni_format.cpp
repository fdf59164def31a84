// SPDX-License-Identifier: MIT
// Tests for the cannelloni formats: exact wire bytes, validation, sequence gaps, TCP, batching.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/can_frame.h"
#include "core/datagram_listener.h"
#include "core/event_loop.h"
#include "core/route_queue.h"
#include "core/stream_connection.h"
#include "formats/cannelloni_format.h"
#include "formats/format.h"

using namespace sockbridge;
using namespace std::chrono_literals;

namespace {

Payload canonical(uint32_t id, std::vector<uint8_t> data, uint8_t flags = 0, uint8_t rtrLength = 0)
{
    CanFrame frame;
    frame.id = id;
    frame.flags = flags;
    frame.len = uint8_t(frame.isRtr() ? rtrLength : data.size());
    std::copy(data.begin(), data.end(), frame.data.begin());
    Payload out;
    frame.appendTo(out);
    return out;
}

Message canMessage(Payload bytes)
{
    Message message;
    message.kind = MessageKind::CanFrame;
    message.linkType = kLinkTypeCanSocketCan;
    message.data = std::move(bytes);
    return message;
}

Payload concat(std::initializer_list<Payload> parts)
{
    Payload all;
    for (const Payload &part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
}

std::vector<uint8_t> range(uint8_t first, size_t count)
{
    std::vector<uint8_t> out;
    for (size_t i = 0; i < count; ++i) out.push_back(uint8_t(first + i));
    return out;
}

// The example of docs/formats.md: seq_no 0x2a, four frames: 0x123 DEADBEEF; extended
// 0x12345678 1122; CAN FD 0x321 with BRS and 12 bytes 00..0b; remote 0x7ff with DLC 8.
const Payload kExamplePacket{
    0x02, 0x00, 0x2a, 0x00, 0x04,                                                        // header
    0x00, 0x00, 0x01, 0x23, 0x04, 0xde, 0xad, 0xbe, 0xef,                                // classic
    0x92, 0x34, 0x56, 0x78, 0x02, 0x11, 0x22,                                            // extended
    0x00, 0x00, 0x03, 0x21, 0x8c, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,  // CAN FD
    0x08, 0x09, 0x0a, 0x0b,                                                              //
    0x40, 0x00, 0x07, 0xff, 0x08,                                                        // remote
};

const std::vector<Payload> kExampleFrames{
    canonical(0x123, {0xde, 0xad, 0xbe, 0xef}),
    canonical(0x92345678, {0x11, 0x22}),
    canonical(0x321, range(0, 12), CanFrame::kFdf | CanFrame::kBrs),
    canonical(0x400007ff, {}, 0, 8),
};

// Feeds one datagram and finishes it, as DatagramListener does.
std::string decodeDatagram(Decoder &decoder, const Payload &datagram, std::vector<Payload> &out)
{
    if (!decoder.feed(datagram, out) || !decoder.finish(out)) return decoder.error();
    return "";
}

std::unique_ptr<Decoder> udpDecoder() { return findFormat("cannelloni")->makeDecoder({}); }

Payload header(uint8_t seq, uint16_t count) { return {0x02, 0x00, seq, uint8_t(count >> 8), uint8_t(count)}; }

const Payload kHandshake{'C', 'A', 'N', 'N', 'E', 'L', 'L', 'O', 'N', 'I', 'v', '1'};

}  // namespace

TEST(CannelloniFormat, IsRegisteredAsCanFrameFormats)
{
    const FormatKind *udp = findFormat("cannelloni");
    ASSERT_NE(udp, nullptr);
    EXPECT_FALSE(udp->framesStream);
    EXPECT_EQ(udp->messageKind, MessageKind::CanFrame);
    EXPECT_EQ(udp->linkType, kLinkTypeCanSocketCan);
    const FormatKind *tcp = findFormat("cannelloni-tcp");
    ASSERT_NE(tcp, nullptr);
    EXPECT_TRUE(tcp->framesStream);
    EXPECT_EQ(tcp->messageKind, MessageKind::CanFrame);
    EXPECT_EQ(tcp->linkType, kLinkTypeCanSocketCan);
}

TEST(CannelloniFormat, EncodesAClassicFrameAsAPacketOfOneWithTheNextSequenceNumber)
{
    auto encoder = findFormat("cannelloni")->makeEncoder({});
    std::vector<uint8_t> first, second;
    ASSERT_TRUE(encoder->encode(canMessage(canonical(0x123, {0xde, 0xad, 0xbe, 0xef})), first));
    ASSERT_TRUE(encoder->encode(canMessage(canonical(0x7ff, {})), second));
    EXPECT_EQ(first, (Payload{0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x23, 0x04, 0xde, 0xad, 0xbe, 0xef}));
    EXPECT_EQ(second, (Payload{0x02, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x07, 0xff, 0x00}));
}

TEST(CannelloniFormat, EncodesExtendedRemoteErrorAndFdFramesExactly)
{
    std::vector<uint8_t> out;
    // Extended id: the EFF flag travels in the id's top bit.
    ASSERT_TRUE(CannelloniFormat::appendFrame(canMessage(canonical(0x9fffffff, {0x01})), out));
    EXPECT_EQ(out, (Payload{0x9f, 0xff, 0xff, 0xff, 0x01, 0x01}));
    // Remote: the DLC goes in the length byte, no data follows.
    out.clear();
    ASSERT_TRUE(CannelloniFormat::appendFrame(canMessage(canonical(0x40000100, {}, 0, 5)), out));
    EXPECT_EQ(out, (Payload{0x40, 0x00, 0x01, 0x00, 0x05}));
    out.clear();
    ASSERT_TRUE(CannelloniFormat::appendFrame(canMessage(canonical(0xc0000123, {}, 0, 0)), out));
    EXPECT_EQ(out, (Payload{0xc0, 0x00, 0x01, 0x23, 0x00}));
    // Error frame: the ERR flag and the error class, data as it is.
    out.clear();
    ASSERT_TRUE(CannelloniFormat::appendFrame(canMessage(canonical(0x20000004, range(0, 8))), out));
    EXPECT_EQ(out, concat({{0x20, 0x00, 0x00, 0x04, 0x08}, range(0, 8)}));
    // CAN FD: the length with 0x80, then the flags byte (BRS 0x01, ESI 0x02), then the data.
    out.clear();
    ASSERT_TRUE(CannelloniFormat::appendFrame(
        canMessage(canonical(0x80000042, range(0x10, 64), CanFrame::kFdf | CanFrame::kBrs | CanFrame::kEsi)), out));
    EXPECT_EQ(out, concat({{0x80, 0x00, 0x00, 0x42, 0xc0, 0x03}, range(0x10, 64)}));
    out.clear();
    ASSERT_TRUE(CannelloniFormat::appendFrame(canMessage(canonical(0x123, {}, CanFrame::kFdf)), out));
    EXPECT_EQ(out, (Payload{0x00, 0x00, 0x01, 0x23, 0x80, 0x00}));
}

TEST(CannelloniFormat, EncoderRefusesMessagesThatAreNotCanFramesAndKeepsItsSequence)
{
    auto encoder = findFormat("cannelloni")->makeEncoder({});
    std::vector<uint8_t> out{0xaa};
    Message text;
    text.kind = MessageKind::Bytes;
    text.data = canonical(0x123, {0x01});  // the right bytes, but not a CAN frame message
    EXPECT_FALSE(encoder->encode(text, out));
    EXPECT_FALSE(encoder->encode(canMessage({0x00, 0x00, 0x01}), out));                          // short
    EXPECT_FALSE(encoder->encode(canMessage({0, 0, 1, 0x23, 9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), out));  // 9 bytes
    EXPECT_EQ(out, Payload{0xaa});  // nothing appended
    ASSERT_TRUE(encoder->encode(canMessage(canonical(0x1, {})), out));
    EXPECT_EQ(out[3], 0x00);  // seq_no 0: refused messages took none
    auto tcp = findFormat("cannelloni-tcp")->makeEncoder({});
    out.clear();
    EXPECT_FALSE(tcp->encode(text, out));
    EXPECT_TRUE(out.empty());
}

TEST(CannelloniFormat, DecodesDocumentedExample)
{
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    ASSERT_EQ(decodeDatagram(*decoder, kExamplePacket, out), "");
    EXPECT_EQ(out, kExampleFrames);
    EXPECT_EQ(decoder->pending(), 0u);
    EXPECT_EQ(decoder->takeLost(), 0u);
}

TEST(CannelloniFormat, EncodesDocumentedExampleBackToTheSameBytes)
{
    CannelloniFormat::Encoder encoder({});
    std::vector<uint8_t> out;
    for (int i = 0; i < 0x2a; ++i) ASSERT_TRUE(encoder.encode(canMessage(canonical(0x1, {})), out));
    out.clear();
    BatchEncoder &batch = *encoder.batching();
    batch.begin(out);
    for (const Payload &frame : kExampleFrames) ASSERT_TRUE(batch.add(canMessage(frame), out));
    batch.end(out, kExampleFrames.size());
    EXPECT_EQ(out, kExamplePacket);
}

TEST(CannelloniFormat, AcceptsAnEmptyPacket)
{
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    EXPECT_EQ(decodeDatagram(*decoder, header(7, 0), out), "");
    EXPECT_TRUE(out.empty());
}

TEST(CannelloniFormat, RejectsOtherVersionsAndOpCodes)
{
    std::vector<Payload> out;
    EXPECT_EQ(decodeDatagram(*udpDecoder(), {0x01, 0x00, 0x00, 0x00, 0x00}, out), "unsupported cannelloni version 1");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), {0x03, 0x00, 0x00, 0x00, 0x00}, out), "unsupported cannelloni version 3");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), {0x02, 0x01, 0x00, 0x00, 0x00}, out),
              "unsupported cannelloni op code 1 (only DATA, 0, carries frames)");
    EXPECT_TRUE(out.empty());
}

TEST(CannelloniFormat, RejectsACountThatDisagreesWithTheFramesWholeDatagramAtATime)
{
    const Payload frame{0x00, 0x00, 0x01, 0x23, 0x01, 0xaa};
    std::vector<Payload> out;
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 2), frame}), out),
              "the packet ended after 1 of its 2 frames");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 2), frame, {0x00, 0x00}}), out),
              "the packet ended after 1 of its 2 frames and 2 bytes of the next");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 1), frame, frame}), out),
              "6 bytes after the packet's 1 frames (a datagram holds one packet)");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), {0x02, 0x00, 0x00}, out),
              "a datagram of 3 bytes, shorter than the 5-byte header");
    EXPECT_TRUE(out.empty());  // a bad datagram yields none of its frames
}

TEST(CannelloniFormat, RejectsInvalidLengthsAndFrames)
{
    std::vector<Payload> out;
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 1), {0, 0, 1, 0x23, 9}, range(0, 9)}), out),
              "frame 1 of 1: a classic CAN frame of 9 bytes (at most 8)");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 1), {0, 0, 1, 0x23, 0x80 | 13, 0}, range(0, 13)}), out),
              "frame 1 of 1: a CAN FD frame of 13 bytes (CAN FD carries 0-8, 12, 16, 20, 24, 32, 48 or 64)");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 1), {0, 0, 1, 0x23, 0x80 | 65, 0}}), out),
              "frame 1 of 1: a CAN FD frame of 65 bytes (CAN FD carries 0-8, 12, 16, 20, 24, 32, 48 or 64)");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 1), {0x40, 0, 1, 0x23, 0x80, 0}}), out),
              "frame 1 of 1: a CAN FD frame with the RTR flag (id 0x40000123): CAN FD has no remote frames");
    EXPECT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 2), {0, 0, 1, 0x23, 0}, {0, 0, 8, 0, 0}}), out),
              "frame 2 of 2: a standard id over 11 bits (0x800) without the EFF flag");
    EXPECT_TRUE(out.empty());
}

TEST(CannelloniFormat, DecodesEveryValidFdLengthAndKeepsBrsAndEsi)
{
    for (size_t len : {0, 1, 7, 8, 12, 16, 20, 24, 32, 48, 64}) {
        std::vector<Payload> out;
        ASSERT_EQ(decodeDatagram(*udpDecoder(), concat({header(0, 1), {0, 0, 1, 0x23, uint8_t(0x80 | len), 0x07}, range(1, len)}), out), "")
            << len;
        ASSERT_EQ(out.size(), 1u);
        // FDF marks the frame FD in the canonical bytes; unknown flag bits from the peer are not kept.
        EXPECT_EQ(out[0], canonical(0x123, range(1, len), CanFrame::kFdf | CanFrame::kBrs | CanFrame::kEsi)) << len;
    }
}

TEST(CannelloniFormat, DecoderRecoversAfterAFinishedDatagramAndFailsForGoodAfterAnError)
{
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    ASSERT_EQ(decodeDatagram(*decoder, kExamplePacket, out), "");
    Payload next = kExamplePacket;
    ++next[2];  // the next sequence number: the same packet again would be a repeat, dropped
    ASSERT_EQ(decodeDatagram(*decoder, next, out), "");
    EXPECT_EQ(out.size(), 8u);
    EXPECT_FALSE(decoder->feed(Payload{0x09, 0, 0, 0, 0}, out));
    EXPECT_FALSE(decoder->feed(kExamplePacket, out));
    EXPECT_FALSE(decoder->finish(out));
    EXPECT_EQ(decoder->error(), "unsupported cannelloni version 9");
}

TEST(CannelloniFormat, CountsSequenceGapsAsLostPacketsAcrossTheWrap)
{
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    auto packet = [&](uint8_t seq) {
        EXPECT_EQ(decodeDatagram(*decoder, header(seq, 0), out), "");
        return decoder->takeLost();
    };
    EXPECT_EQ(packet(250), 0u);  // the first packet sets the expectation
    EXPECT_EQ(packet(251), 0u);
    EXPECT_EQ(packet(254), 2u);  // 252 and 253
    EXPECT_EQ(packet(255), 0u);
    EXPECT_EQ(packet(0), 0u);    // wraps
    EXPECT_EQ(packet(3), 2u);    // 1 and 2
    EXPECT_EQ(packet(2), 0u);    // late: neither loss nor a step back
    EXPECT_EQ(packet(4), 0u);
    EXPECT_EQ(packet(4), 0u);    // repeated
    EXPECT_EQ(packet(5), 0u);
    EXPECT_EQ(packet(132), 126u);  // as far ahead as counts
    EXPECT_EQ(decoder->takeLost(), 0u);  // taken
}

// UDP may deliver datagrams out of order: frames never leave in an order other than the sender's.
TEST(CannelloniFormat, DropsTheFramesOfLateAndRepeatedPackets)
{
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    auto packetWith = [&](uint8_t seq, uint32_t id) {
        Payload datagram = header(seq, 1);
        EXPECT_TRUE(CannelloniFormat::appendFrame(canMessage(canonical(id, range(1, 2))), datagram));
        return datagram;
    };
    auto ids = [&] {
        std::vector<uint32_t> seen;
        for (const auto &p : out) seen.push_back(CanFrame::parse(p)->id);
        out.clear();
        return seen;
    };
    EXPECT_EQ(decodeDatagram(*decoder, packetWith(7, 0x107), out), "");
    EXPECT_EQ(decodeDatagram(*decoder, packetWith(9, 0x109), out), "");
    EXPECT_EQ(decoder->takeLost(), 1u) << "8 missing";
    EXPECT_EQ(decodeDatagram(*decoder, packetWith(8, 0x108), out), "") << "late: not an error";
    EXPECT_EQ(decodeDatagram(*decoder, packetWith(9, 0x109), out), "") << "repeated";
    EXPECT_EQ(decodeDatagram(*decoder, packetWith(10, 0x10A), out), "");
    EXPECT_EQ(ids(), (std::vector<uint32_t>{0x107u, 0x109u, 0x10Au}));
    EXPECT_EQ(decoder->takeLost(), 0u);
}

TEST(CannelloniFormat, RoundTripKeepsFramesAndOrder)
{
    CannelloniFormat::Encoder encoder({});
    std::vector<Payload> frames;
    for (uint32_t i = 0; i < 300; ++i) {
        if (i % 3 == 0) frames.push_back(canonical(i, range(uint8_t(i), i % 9)));
        else if (i % 3 == 1) frames.push_back(canonical(0x80000000 | (i << 10), range(uint8_t(i), 8)));
        else frames.push_back(canonical(i, range(uint8_t(i), 64), CanFrame::kFdf));
    }
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    for (const Payload &frame : frames) {
        std::vector<uint8_t> datagram;
        ASSERT_TRUE(encoder.encode(canMessage(frame), datagram));
        ASSERT_EQ(decodeDatagram(*decoder, datagram, out), "");
    }
    EXPECT_EQ(out, frames);
    EXPECT_EQ(decoder->takeLost(), 0u);  // 300 packets, the sequence wrapped without gaps
}

// TCP: "CANNELLONIv1", then frames back to back.

TEST(CannelloniTcpFormat, GreetsWithTheTwelveByteHandshake)
{
    auto encoder = findFormat("cannelloni-tcp")->makeEncoder({});
    std::vector<uint8_t> out;
    encoder->greet(out);
    EXPECT_EQ(out, kHandshake);
    EXPECT_EQ(out.size(), 12u);
    EXPECT_EQ(encoder->batching(), nullptr);
    out.clear();
    ASSERT_TRUE(encoder->encode(canMessage(canonical(0x123, {0xde, 0xad})), out));
    EXPECT_EQ(out, (Payload{0x00, 0x00, 0x01, 0x23, 0x02, 0xde, 0xad}));  // no packet header
}

TEST(CannelloniTcpFormat, DecodesAStreamSplitAtEveryByte)
{
    Payload stream = kHandshake;
    for (size_t i = 5; i < kExamplePacket.size(); ++i) stream.push_back(kExamplePacket[i]);  // frames only
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        auto decoder = findFormat("cannelloni-tcp")->makeDecoder({});
        std::vector<Payload> out;
        ASSERT_TRUE(decoder->feed(std::span(stream).first(cut), out)) << cut << ": " << decoder->error();
        ASSERT_TRUE(decoder->feed(std::span(stream).subspan(cut), out)) << cut << ": " << decoder->error();
        ASSERT_TRUE(decoder->finish(out)) << cut << ": " << decoder->error();
        EXPECT_EQ(out, kExampleFrames) << cut;
    }
    auto decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    std::vector<Payload> out;
    for (uint8_t byte : stream) {
        ASSERT_TRUE(decoder->feed(std::span(&byte, 1), out));
        EXPECT_LE(decoder->pending(), CannelloniFrameReader::kMaxSize);
    }
    EXPECT_EQ(out, kExampleFrames);
    EXPECT_EQ(decoder->pending(), 0u);
}

TEST(CannelloniTcpFormat, RejectsAPeerThatDoesNotGreet)
{
    auto decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder->feed(Payload{0x00, 0x00, 0x01, 0x23, 0x00}, out));
    EXPECT_EQ(decoder->error(), "the peer did not send the cannelloni handshake \"CANNELLONIv1\": byte 0 is 0x00, not 'C'");
    decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    EXPECT_FALSE(decoder->feed(Payload{'C', 'A', 'N', 'N', 'E', 'L', 'L', 'O', 'N', 'I', 'v', '2'}, out));
    EXPECT_EQ(decoder->error(), "the peer did not send the cannelloni handshake \"CANNELLONIv1\": byte 11 is 0x32, not '1'");
    EXPECT_TRUE(out.empty());
}

TEST(CannelloniTcpFormat, FinishReportsACutHandshakeOrFrame)
{
    auto decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    std::vector<Payload> out;
    ASSERT_TRUE(decoder->feed(std::span(kHandshake).first(4), out));
    EXPECT_FALSE(decoder->finish(out));
    EXPECT_EQ(decoder->error(), "stream ended inside the cannelloni handshake (4 of 12 bytes)");

    decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    ASSERT_TRUE(decoder->feed(concat({kHandshake, {0x00, 0x00, 0x01, 0x23, 0x04, 0xde}}), out));
    EXPECT_FALSE(decoder->finish(out));
    EXPECT_EQ(decoder->error(), "stream ended inside a frame (6 of 9 bytes)");

    decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    ASSERT_TRUE(decoder->feed(concat({kHandshake, {0x00, 0x00}}), out));
    EXPECT_FALSE(decoder->finish(out));
    EXPECT_EQ(decoder->error(), "stream ended inside a frame (2 bytes, before its length)");

    decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    EXPECT_TRUE(decoder->finish(out));  // closed before greeting: nothing was cut
    decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    ASSERT_TRUE(decoder->feed(kHandshake, out));
    EXPECT_TRUE(decoder->finish(out));
    EXPECT_TRUE(out.empty());
}

TEST(CannelloniTcpFormat, RejectsAnInvalidFrameAfterTheHandshake)
{
    auto decoder = findFormat("cannelloni-tcp")->makeDecoder({});
    std::vector<Payload> out;
    EXPECT_FALSE(decoder->feed(concat({kHandshake, {0x00, 0x00, 0x01, 0x23, 0x0f}}), out));
    EXPECT_EQ(decoder->error(), "a classic CAN frame of 15 bytes (at most 8)");
}

// Batching: DatagramListener packs frames into datagrams up to the mtu, in order.

namespace {

class BatchingTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        loop_ = makeEpollEventLoop();
        receiver_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(receiver_);
        sockaddr_in any{};
        any.sin_family = AF_INET;
        any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(receiver_.get(), reinterpret_cast<sockaddr *>(&any), sizeof(any)), 0);
        int big = 4 << 20;
        setsockopt(receiver_.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
        peer_.length = sizeof(sockaddr_in);
        ASSERT_EQ(getsockname(receiver_.get(), peer_.get(), &peer_.length), 0);
    }

    std::unique_ptr<DatagramListener> makeListener(const FormatOptions &options)
    {
        DatagramSocketOps ops;
        ops.peer = peer_;
        ops.localName = "test";
        ops.open = [] {
            UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            sockaddr_in any{};
            any.sin_family = AF_INET;
            any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            (void)::bind(fd.get(), reinterpret_cast<sockaddr *>(&any), sizeof(any));
            return fd;
        };
        auto listener =
            std::make_unique<DatagramListener>("out", *loop_, *findFormat("cannelloni"), options, std::move(ops));
        listener->addInput(&queue_);
        listener->start();
        return listener;
    }

    // Runs the loop for `duration` (once per test: a loop that exited stays exited).
    void runFor(std::chrono::milliseconds duration)
    {
        auto stop = loop_->makeTimer([this] { loop_->exit(0); });
        stop->arm(duration);
        loop_->run();
    }

    std::vector<Payload> received()
    {
        std::vector<Payload> datagrams;
        uint8_t buffer[65536];
        while (true) {
            ssize_t n = ::recv(receiver_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
            if (n < 0) break;
            datagrams.emplace_back(buffer, buffer + n);
        }
        return datagrams;
    }

    std::unique_ptr<EventLoop> loop_;
    UniqueFd receiver_;
    SocketAddress peer_;
    RouteQueue queue_{QueueLimits{100000, 64 << 20, OverflowPolicy::DropNewest}};
};

}  // namespace

TEST_F(BatchingTest, PacksFramesUpToTheMtuInOrderWithConsecutiveSequenceNumbers)
{
    FormatOptions options;
    options.mtu = 1472;
    options.flushTimeout = 5ms;
    auto listener = makeListener(options);
    std::vector<Payload> frames;
    for (uint32_t i = 0; i < 2000; ++i) {
        frames.push_back(canonical(0x80000000 | i, range(uint8_t(i), i % 9)));
        ASSERT_TRUE(queue_.push(std::make_shared<const Message>(canMessage(frames.back()))));
    }
    listener->notifyInput();
    runFor(100ms);

    std::vector<Payload> datagrams = received();
    ASSERT_GT(datagrams.size(), 1u);
    auto decoder = udpDecoder();
    std::vector<Payload> out;
    for (size_t i = 0; i < datagrams.size(); ++i) {
        const Payload &datagram = datagrams[i];
        EXPECT_LE(datagram.size(), 1472u);
        // Full: the next frame (at most 4 + 1 + 8 bytes) would not have fitted.
        if (i + 1 < datagrams.size()) {
            EXPECT_GT(datagram.size() + 13, 1472u) << i;
        }
        EXPECT_EQ(datagram[2], uint8_t(i)) << "seq_no of datagram " << i;
        ASSERT_EQ(decodeDatagram(*decoder, datagram, out), "") << i;
    }
    EXPECT_EQ(out, frames);
    EXPECT_EQ(listener->counters().messagesOut, frames.size());
    EXPECT_TRUE(listener->idle());
}

TEST_F(BatchingTest, SendsAPartialDatagramWhenTheFlushTimeoutExpires)
{
    FormatOptions options;
    options.flushTimeout = 300ms;
    auto listener = makeListener(options);
    ASSERT_TRUE(queue_.push(std::make_shared<const Message>(canMessage(canonical(0x1, {0x01})))));
    ASSERT_TRUE(queue_.push(std::make_shared<const Message>(canMessage(canonical(0x2, {0x02})))));
    listener->notifyInput();
    bool checked = false;
    auto early = loop_->makeTimer([&] {
        EXPECT_TRUE(received().empty()) << "sent before the flush timeout";
        EXPECT_FALSE(listener->idle());
        checked = true;
    });
    early->arm(50ms);
    runFor(600ms);
    EXPECT_TRUE(checked);
    std::vector<Payload> datagrams = received();
    ASSERT_EQ(datagrams.size(), 1u);
    EXPECT_EQ(datagrams[0], concat({header(0, 2), {0, 0, 0, 1, 1, 1}, {0, 0, 0, 2, 1, 2}}));
    EXPECT_TRUE(listener->idle());
}

TEST_F(BatchingTest, ZeroFlushTimeoutSendsAtTheEndOfEachPass)
{
    FormatOptions options;
    options.flushTimeout = 0ms;
    options.mtu = 100;
    auto listener = makeListener(options);
    for (uint32_t i = 0; i < 10; ++i)
        ASSERT_TRUE(queue_.push(std::make_shared<const Message>(canMessage(canonical(i, range(0, 8))))));
    listener->notifyInput();
    runFor(20ms);
    std::vector<Payload> datagrams = received();
    // 13-byte frames: 7 fit in 100 bytes with the header, the other 3 go at the end of the pass.
    ASSERT_EQ(datagrams.size(), 2u);
    EXPECT_EQ(datagrams[0].size(), 5u + 7 * 13);
    EXPECT_EQ(datagrams[1].size(), 5u + 3 * 13);
    EXPECT_EQ(datagrams[1][4], 3);
}

TEST_F(BatchingTest, CountsMessagesThatAreNotCanFramesAsErrorsAndSendsTheRest)
{
    FormatOptions options;
    options.flushTimeout = 0ms;
    auto listener = makeListener(options);
    Message text;
    text.kind = MessageKind::Bytes;
    text.data = {'h', 'i'};
    ASSERT_TRUE(queue_.push(std::make_shared<const Message>(canMessage(canonical(0x1, {})))));
    ASSERT_TRUE(queue_.push(std::make_shared<const Message>(text)));
    ASSERT_TRUE(queue_.push(std::make_shared<const Message>(canMessage(canonical(0x2, {})))));
    listener->notifyInput();
    runFor(20ms);
    std::vector<Payload> datagrams = received();
    ASSERT_EQ(datagrams.size(), 1u);
    EXPECT_EQ(datagrams[0], concat({header(0, 2), {0, 0, 0, 1, 0}, {0, 0, 0, 2, 0}}));
    EXPECT_EQ(listener->counters().errors, 1u);
    EXPECT_EQ(listener->counters().messagesOut, 2u);
}

TEST(CannelloniTcpFormat, StreamConnectionSendsTheHandshakeFirstThenFrames)
{
    auto loop = makeEpollEventLoop();
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    UniqueFd peer(fds[1]);
    std::vector<Payload> decoded;
    StreamConnection::Handlers handlers;
    handlers.onMessages = [&](StreamConnection &, std::vector<Payload> &payloads) {
        for (auto &payload : payloads) decoded.push_back(std::move(payload));
    };
    StreamConnection connection(*loop, UniqueFd(fds[0]), "peer", 1, *findFormat("cannelloni-tcp"), {}, false, false,
                                handlers);
    ASSERT_EQ(connection.send(canMessage(canonical(0x123, {0xde, 0xad, 0xbe, 0xef}))), 9u);
    Message text;
    text.data = {'h', 'i'};
    EXPECT_EQ(connection.send(text), std::nullopt);  // not a CAN frame: refused, nothing buffered
    connection.flush();
    ASSERT_EQ(::send(peer.get(), kHandshake.data(), kHandshake.size(), 0), ssize_t(kHandshake.size()));
    ASSERT_EQ(::send(peer.get(), "\x00\x00\x07\xff\x01\x42", 6, 0), 6);
    auto stop = loop->makeTimer([&] { loop->exit(0); });
    stop->arm(50ms);
    loop->run();

    uint8_t buffer[64];
    ssize_t n = ::recv(peer.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    ASSERT_EQ(n, 12 + 9);
    EXPECT_EQ(Payload(buffer, buffer + n), concat({kHandshake, {0x00, 0x00, 0x01, 0x23, 0x04, 0xde, 0xad, 0xbe, 0xef}}));
    EXPECT_EQ(decoded, std::vector<Payload>{canonical(0x7ff, {0x42})});
}
