// SPDX-License-Identifier: MIT
// SocketcandFormat: the session state machine (exact bytes of greeting, replies and frame lines,
// commands split across reads, errors that keep the session) and StreamConnection sending each
// greeting and reply with a send() of its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <functional>

#include <fmt/format.h>

#include "core/can_frame.h"
#include "core/event_loop.h"
#include "core/stream_connection.h"
#include "formats/socketcand_format.h"

#include <linux/can.h>
#include <linux/can/bcm.h>

#include <cstring>

using namespace sockbridge;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

FormatOptions optionsWith(bool fd = false)
{
    FormatOptions o;
    o.canBuses = {"vcan0", "vcan1"};
    o.socketcandFd = fd;
    return o;
}

std::string text(const std::vector<uint8_t> &bytes) { return {bytes.begin(), bytes.end()}; }

CanFrame frameOf(uint32_t id, std::vector<uint8_t> data, uint8_t flags = 0)
{
    CanFrame f;
    f.id = id;
    f.flags = flags;
    f.len = uint8_t(data.size());
    std::copy(data.begin(), data.end(), f.data.begin());
    return f;
}

Message messageOf(const CanFrame &frame, std::string bus = "vcan0", int64_t ns = 1'700'000'000'123'456'789)
{
    Message m;
    m.kind = MessageKind::CanFrame;
    frame.appendTo(m.data);
    m.timestampNs = ns;
    m.source = "bus";
    m.peer = std::move(bus);
    m.ifindex = 3;
    return m;
}

// A session driven like a connection: feed() returns the replies, frames() what "< send >" made.
struct Client {
    explicit Client(FormatOptions o = optionsWith()) : codec(SocketcandFormat::makeSession(o)) {}
    SessionCodec codec;
    std::vector<Payload> sent;

    std::vector<std::string> feed(std::string_view bytes)
    {
        EXPECT_TRUE(codec.decoder->feed({reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()}, sent));
        std::vector<Payload> replies;
        codec.decoder->takeReplies(replies);
        std::vector<std::string> out;
        for (const auto &r : replies) out.push_back(text(r));
        return out;
    }
    std::string encode(const Message &m, bool expectOk = true)
    {
        std::vector<uint8_t> out;
        EXPECT_EQ(codec.encoder->encode(m, out), expectOk);
        return text(out);
    }
    // The frames "< send >" produced, as candump-like "ID#DATA" (FD: "ID##F DATA", RTR "ID#R len").
    std::vector<std::string> frames()
    {
        std::vector<std::string> out;
        for (const auto &p : sent) {
            auto f = CanFrame::parse(p);
            if (!f) {
                out.push_back("(bad)");
                continue;
            }
            std::string s = fmt::format("{:X}{}{}#", f->rawId(), f->isExtended() ? "x" : "", f->isRtr() ? "r" : "");
            if (f->isFd()) s += fmt::format("#{:X}", f->flags);
            if (f->isRtr())
                s += std::to_string(f->len);
            else
                for (size_t i = 0; i < f->len; ++i) s += fmt::format("{:02X}", f->data[i]);
            out.push_back(s);
        }
        sent.clear();
        return out;
    }
};

TEST(SocketcandFormat, GreetsWithHi)
{
    Client c;
    std::vector<uint8_t> hi;
    c.codec.encoder->greet(hi);
    EXPECT_EQ(text(hi), "< hi >");
}

TEST(SocketcandFormat, OpenRawmodeThenFramesAsSocketcandPrintsThem)
{
    Client c;
    CanFrame f = frameOf(0x123, {0xde, 0xad, 0xbe, 0xef});
    EXPECT_EQ(c.encode(messageOf(f)), "") << "no frames before a bus is open";
    EXPECT_THAT(c.feed("< open vcan0 >"), ElementsAre("< ok >"));
    EXPECT_EQ(c.encode(messageOf(f)), "") << "BCM mode (after open): no frames without subscriptions";
    EXPECT_THAT(c.feed("< rawmode >"), ElementsAre("< ok >"));
    EXPECT_EQ(c.encode(messageOf(f)), "< frame 123 1700000000.123456 DEADBEEF >");
    EXPECT_EQ(c.encode(messageOf(frameOf(0x18DAF110 | CanFrame::kEffFlag, {0x01}))),
              "< frame 18DAF110 1700000000.123456 01 >");
    EXPECT_EQ(c.encode(messageOf(frameOf(0x00A, {}))), "< frame 00A 1700000000.123456  >") << "as socketcand: two spaces";
    EXPECT_EQ(c.encode(messageOf(frameOf(0x7FF | CanFrame::kRtrFlag, {0, 0, 0}))), "< rtr 7FF 1700000000.123456 3 >");
    EXPECT_EQ(c.encode(messageOf(frameOf(CanFrame::kErrFlag | 0x004, {0, 4, 0, 0, 0, 0, 0, 0}))),
              "< error 004 1700000000.123456 >");
    EXPECT_EQ(c.encode(messageOf(f, "vcan1")), "") << "another bus's frame";
    Message fromElsewhere = messageOf(f, "10.0.0.1:5000");
    fromElsewhere.ifindex = 0;
    EXPECT_EQ(c.encode(fromElsewhere), "< frame 123 1700000000.123456 DEADBEEF >") << "not from a can listener";
    Message bytes;
    bytes.data = {1, 2, 3};
    EXPECT_EQ(c.encode(bytes, false), "") << "not a CAN frame";
    Message timeout = messageOf(frameOf(0x200, {}));
    timeout.kind = MessageKind::CanTimeout;
    EXPECT_EQ(c.encode(timeout), "");
}

TEST(SocketcandFormat, SendBecomesAFrame)
{
    Client c;
    EXPECT_THAT(c.feed("< send 123 1 01 >"), ElementsAre("< error no bus is open >"));
    EXPECT_THAT(c.frames(), IsEmpty());
    c.feed("< open vcan1 >");
    EXPECT_THAT(c.feed("< send 123 4 de ad be ef >"), IsEmpty()) << "send works in the default (BCM) mode too";
    c.feed("< rawmode >");
    EXPECT_THAT(c.feed("< send 1AAAAAAA 2 1 F1 >< send 7FF 0 >< sendrtr 123 4 >< send 00000123 8 1 2 3 4 5 6 7 8 >"),
                IsEmpty());
    // python-can 4.1 writes ids unpadded: above 7FF that is an extended id.
    EXPECT_THAT(c.feed("< send 1ABCDE 1 a >< send 5 1 ff >"), IsEmpty());
    EXPECT_THAT(c.frames(), ElementsAre("123#DEADBEEF", "1AAAAAAAx#01F1", "7FF#", "123r#4", "123x#0102030405060708",
                                        "1ABCDEx#0A", "5#FF"));
}

TEST(SocketcandFormat, CommandsSplitAcrossReadsAndWhitespaceBetween)
{
    Client c;
    EXPECT_THAT(c.feed("<"), IsEmpty());
    EXPECT_THAT(c.feed(" open vc"), IsEmpty());
    EXPECT_THAT(c.feed("an0 "), IsEmpty());
    EXPECT_THAT(c.feed(">\r\n  < raw"), ElementsAre("< ok >"));
    EXPECT_THAT(c.feed("mode >< send 12"), ElementsAre("< ok >"));
    EXPECT_EQ(c.codec.decoder->pending(), 8u);
    EXPECT_THAT(c.feed("3 1 ff >"), IsEmpty());
    EXPECT_THAT(c.frames(), ElementsAre("123#FF"));
}

TEST(SocketcandFormat, MalformedCommandsGetErrorsAndTheSessionGoesOn)
{
    Client c;
    EXPECT_THAT(c.feed("< open nosuch >"), ElementsAre("< error could not open bus >"));
    EXPECT_THAT(c.feed("< rawmode >"), ElementsAre("< error no bus is open >"));
    EXPECT_THAT(c.feed("< open >"), ElementsAre("< error open takes one bus name >"));
    EXPECT_THAT(c.feed("< open vcan0 >"), ElementsAre("< ok >"));
    EXPECT_THAT(c.feed("< open vcan1 >"), ElementsAre("< error a bus is already open >"));
    EXPECT_THAT(c.feed("< rawmode >"), ElementsAre("< ok >"));
    EXPECT_THAT(c.feed("< bogus 1 2 >"), ElementsAre("< error unknown command >"));
    EXPECT_THAT(c.feed("< >"), ElementsAre("< error empty command >"));
    EXPECT_THAT(c.feed("hello"), ElementsAre("< error text outside a command >"));
    EXPECT_THAT(c.feed(" there < echo >"), ElementsAre("< echo >")) << "one error per run of stray text";
    EXPECT_THAT(c.feed("< send 3FFFFFFF 0 >"), ElementsAre("< error can_id 3FFFFFFF is above 1FFFFFFF >"));
    EXPECT_THAT(c.feed("< send 123456789 0 >"), ElementsAre("< error bad can_id 123456789 >"));
    EXPECT_THAT(c.feed("< send xyz 0 >"), ElementsAre("< error bad can_id xyz >"));
    EXPECT_THAT(c.feed("< send 123 9 1 2 3 4 5 6 7 8 9 >"), ElementsAre("< error bad length 9 >"));
    EXPECT_THAT(c.feed("< send 123 2 01 >"), ElementsAre("< error length 2 but 1 data bytes >"));
    EXPECT_THAT(c.feed("< send 123 1 100 >"), ElementsAre("< error bad data byte 100 >"));
    EXPECT_THAT(c.feed("< send 123 >"), ElementsAre("< error send needs a can_id and a length >"));
    EXPECT_THAT(c.feed("< sendrtr 123 2 01 >"), ElementsAre("< error sendrtr takes no data >"));
    EXPECT_THAT(c.feed("< send <bad> >"), ElementsAre("< error unterminated command >", "< error unknown command >",
                                                       "< error text outside a command >"));
    EXPECT_THAT(c.feed("< isotpmode >"), ElementsAre("< error isotpmode not supported >"));
    EXPECT_THAT(c.feed("< fdsend 123 1 2 01 02 >"), ElementsAre("< error CAN FD is off on this listener >"));
    EXPECT_THAT(c.feed("< " + std::string(9000, 'x') + " > < echo >"),
                ElementsAre("< error command too long >", "< echo >"));
    EXPECT_THAT(c.frames(), IsEmpty());
    EXPECT_THAT(c.feed("< send 123 1 01 >"), IsEmpty());
    EXPECT_THAT(c.frames(), ElementsAre("123#01")) << "still works";
    EXPECT_EQ(c.encode(messageOf(frameOf(0x123, {1}))), "< frame 123 1700000000.123456 01 >");
}

TEST(SocketcandFormat, ListEchoAndControlMode)
{
    Client c;
    EXPECT_THAT(c.feed("< list >< echo >"), ElementsAre("< list vcan0 vcan1 >", "< echo >"));
    EXPECT_THAT(c.feed("< open vcan0 >< controlmode >"), ElementsAre("< ok >", "< ok >"));
    EXPECT_EQ(c.encode(messageOf(frameOf(0x123, {1}))), "") << "no frames in CONTROL mode";
    EXPECT_THAT(c.feed("< statistics 1000 >"), ElementsAre("< error statistics not available >"))
        << "without a connection to tick it";
    EXPECT_THAT(c.feed("< send 123 0 >"), ElementsAre("< error send is not a controlmode command >"));
    EXPECT_THAT(c.feed("< rawmode >"), ElementsAre("< ok >"));
    EXPECT_EQ(c.encode(messageOf(frameOf(0x123, {1}))), "< frame 123 1700000000.123456 01 >");
}

TEST(SocketcandFormat, CanFdOnlyWhenEnabled)
{
    CanFrame fd = frameOf(0x123, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, CanFrame::kFdf | CanFrame::kBrs);
    {
        Client c;
        c.feed("< open vcan0 >< rawmode >");
        EXPECT_EQ(c.encode(messageOf(fd), false), "") << "an FD frame cannot be carried without socketcand_fd";
    }
    Client c(optionsWith(true));
    c.feed("< open vcan0 >< rawmode >");
    EXPECT_EQ(c.encode(messageOf(fd)), "< fdframe 123 05 1700000000.123456 000102030405060708090A0B >");
    EXPECT_THAT(c.feed("< fdsend 123 1 12 0 1 2 3 4 5 6 7 8 9 a b >< sendfd 00000042 0 0 >"), IsEmpty());
    EXPECT_THAT(c.feed("< fdsend 123 1 9 0 1 2 3 4 5 6 7 8 >"), ElementsAre("< error bad length 9 >"));
    EXPECT_THAT(c.feed("< fdsend 123 8 0 >"), ElementsAre("< error bad CAN FD flags 8 (BRS 1, ESI 2) >"));
    EXPECT_THAT(c.frames(), ElementsAre("123##5000102030405060708090A0B", "42x##4"));
}

TEST(SocketcandFormat, AnyBusAcceptsEveryName)
{
    FormatOptions o;
    o.anyCanBus = true;
    Client c(o);
    EXPECT_THAT(c.feed("< open can7 >"), ElementsAre("< ok >"));
}

// The connection's side as the session sees it: what it opened, wrote and was asked to tick.
struct FakeHost final : SessionHost {
    std::vector<std::string> opened;
    std::vector<std::vector<uint8_t>> written;
    std::vector<int64_t> ticks;  // milliseconds asked for, in order
    bool sideOpen = false;
    std::function<int(const bcm_msg_head &)> kernel = [](const bcm_msg_head &) { return 0; };
    std::optional<LinkCounters> counters = LinkCounters{100, 10, 40, 5};

    bool openSideSocket(std::string_view target, std::string &why) override
    {
        if (target == "vcan9") {
            why = "no interface vcan9";
            return false;
        }
        opened.emplace_back(target);
        sideOpen = true;
        return true;
    }
    void closeSideSocket() override { sideOpen = false; }
    int sendSide(std::span<const uint8_t> datagram) override
    {
        written.emplace_back(datagram.begin(), datagram.end());
        return kernel(head(written.size() - 1));
    }
    void setTick(std::chrono::milliseconds interval) override { ticks.push_back(interval.count()); }
    std::optional<LinkCounters> linkCounters(std::string_view interface) override
    {
        return interface == "vcan0" ? counters : std::nullopt;
    }
    bcm_msg_head head(size_t i) const
    {
        bcm_msg_head h;
        std::memcpy(&h, written.at(i).data(), sizeof(h));
        return h;
    }
    can_frame frame(size_t i, size_t n = 0) const
    {
        can_frame f;
        std::memcpy(&f, written.at(i).data() + sizeof(bcm_msg_head) + n * CAN_MTU, sizeof(f));
        return f;
    }
};

FormatOptions bcmOptions(bool fd = false)
{
    FormatOptions o = optionsWith(fd);
    o.canWritableBuses = {"vcan0"};
    return o;
}

struct BcmClient : Client {
    explicit BcmClient(FormatOptions o = bcmOptions()) : Client(std::move(o)) { codec.decoder->attach(host); }
    FakeHost host;
};

// What a CAN_BCM socket reads back for a received frame: RX_CHANGED with the frame.
std::vector<uint8_t> rxChanged(const CanFrame &frame)
{
    bcm_msg_head head{};
    head.opcode = RX_CHANGED;
    head.can_id = frame.id;
    head.nframes = 1;
    can_frame raw{};
    raw.can_id = frame.id;
    raw.len = frame.len;
    std::memcpy(raw.data, frame.data.data(), frame.len);
    std::vector<uint8_t> bytes(sizeof(head) + sizeof(raw));
    std::memcpy(bytes.data(), &head, sizeof(head));
    std::memcpy(bytes.data() + sizeof(head), &raw, sizeof(raw));
    return bytes;
}

TEST(SocketcandBcm, AddUpdateDeleteAreTheTxOpsSocketcandWrites)
{
    BcmClient c;
    EXPECT_THAT(c.feed("< open vcan0 >"), ElementsAre("< ok >")) << "BCM mode is the default";
    EXPECT_THAT(c.host.opened, IsEmpty()) << "the CAN_BCM socket is opened at the first job";
    EXPECT_THAT(c.feed("< add 1 500000 123 2 11 f2 >"), IsEmpty()) << "socketcand answers nothing on success";
    EXPECT_THAT(c.host.opened, ElementsAre("vcan0"));
    ASSERT_EQ(c.host.written.size(), 1u);
    bcm_msg_head h = c.host.head(0);
    EXPECT_EQ(h.opcode, uint32_t(TX_SETUP));
    EXPECT_EQ(h.flags, uint32_t(SETTIMER | STARTTIMER)) << "no TX_ANNOUNCE: the first frame after one interval";
    EXPECT_EQ(h.count, 0u);
    EXPECT_EQ(h.ival2.tv_sec, 1);
    EXPECT_EQ(h.ival2.tv_usec, 500000);
    EXPECT_EQ(h.can_id, 0x123u);
    EXPECT_EQ(h.nframes, 1u);
    EXPECT_EQ(c.host.written[0].size(), sizeof(bcm_msg_head) + CAN_MTU);
    can_frame f = c.host.frame(0);
    EXPECT_EQ(f.can_id, 0x123u);
    EXPECT_EQ(f.len, 2);
    EXPECT_EQ(f.data[0], 0x11);
    EXPECT_EQ(f.data[1], 0xf2);

    EXPECT_THAT(c.feed("< update 00000123 1 AA >"), IsEmpty());
    h = c.host.head(1);
    EXPECT_EQ(h.opcode, uint32_t(TX_SETUP));
    EXPECT_EQ(h.flags, 0u) << "timers untouched";
    EXPECT_EQ(h.can_id, 0x123u | CAN_EFF_FLAG) << "8 digits: extended";
    EXPECT_EQ(c.host.frame(1).data[0], 0xAA);

    EXPECT_THAT(c.feed("< delete 123 >"), IsEmpty());
    h = c.host.head(2);
    EXPECT_EQ(h.opcode, uint32_t(TX_DELETE));
    EXPECT_EQ(h.can_id, 0x123u);
    EXPECT_THAT(c.host.opened, ElementsAre("vcan0")) << "one socket per session";
}

TEST(SocketcandBcm, FilterMuxfilterSubscribeUnsubscribeAreTheRxOps)
{
    BcmClient c;
    c.feed("< open vcan0 >");
    EXPECT_THAT(c.feed("< filter 0 250000 123 8 FF 00 F8 00 00 00 00 00 >"), IsEmpty());
    bcm_msg_head h = c.host.head(0);
    EXPECT_EQ(h.opcode, uint32_t(RX_SETUP));
    EXPECT_EQ(h.flags, uint32_t(SETTIMER));
    EXPECT_EQ(h.ival1.tv_sec, 0);
    EXPECT_EQ(h.ival1.tv_usec, 0);
    EXPECT_EQ(h.ival2.tv_usec, 250000) << "the throttle";
    EXPECT_EQ(h.nframes, 1u);
    can_frame mask = c.host.frame(0);
    EXPECT_EQ(mask.len, 8);
    EXPECT_EQ(mask.data[0], 0xFF);
    EXPECT_EQ(mask.data[2], 0xF8);

    EXPECT_THAT(c.feed("< muxfilter 0 0 123 2 FF 00 00 00 00 00 00 00 33 FF FF FF FF FF FF FF >"), IsEmpty());
    h = c.host.head(1);
    EXPECT_EQ(h.opcode, uint32_t(RX_SETUP));
    EXPECT_EQ(h.nframes, 2u);
    EXPECT_EQ(c.host.written[1].size(), sizeof(bcm_msg_head) + 2 * CAN_MTU);
    EXPECT_EQ(c.host.frame(1, 0).data[0], 0xFF);
    EXPECT_EQ(c.host.frame(1, 1).data[0], 0x33);
    EXPECT_EQ(c.host.frame(1, 1).data[7], 0xFF);

    EXPECT_THAT(c.feed("< subscribe 1 0 1ABCDEF0 >"), IsEmpty());
    h = c.host.head(2);
    EXPECT_EQ(h.opcode, uint32_t(RX_SETUP));
    EXPECT_EQ(h.flags, uint32_t(RX_FILTER_ID | SETTIMER));
    EXPECT_EQ(h.ival2.tv_sec, 1);
    EXPECT_EQ(h.can_id, 0x1ABCDEF0u | CAN_EFF_FLAG);
    EXPECT_EQ(h.nframes, 0u);

    EXPECT_THAT(c.feed("< unsubscribe 1ABCDEF0 >"), IsEmpty());
    EXPECT_EQ(c.host.head(3).opcode, uint32_t(RX_DELETE));
}

TEST(SocketcandBcm, ReceivedFramesPrintedAsSocketcandsBcmModeDoes)
{
    BcmClient c;
    c.feed("< open vcan0 >< subscribe 0 0 123 >");
    c.codec.decoder->sideReceived(rxChanged(frameOf(0x123, {0x11, 0x22})), 1'700'000'000'123'456'789);
    c.codec.decoder->sideReceived(rxChanged(frameOf(0x1ABCDEF0 | CanFrame::kEffFlag, {})), 5'000'001'000);
    c.codec.decoder->sideReceived({}, 0);  // not a BCM message: ignored
    EXPECT_THAT(c.feed(""), ElementsAre("< frame 123 1700000000.123456 11 22  >", "< frame 1ABCDEF0 5.000001  >"));
    c.feed("< rawmode >");
    EXPECT_FALSE(c.host.sideOpen) << "leaving BCM mode closes the socket: the kernel ends its jobs";
    c.codec.decoder->sideReceived(rxChanged(frameOf(0x123, {1})), 0);
    EXPECT_THAT(c.feed(""), IsEmpty());
}

TEST(SocketcandBcm, BadJobsGetErrorsAndTheSessionGoesOn)
{
    BcmClient c;
    EXPECT_THAT(c.feed("< add 1 0 123 1 01 >"), ElementsAre("< error add is a bcmmode command >"));
    c.feed("< open vcan1 >");
    EXPECT_THAT(c.feed("< add 1 0 123 1 01 >"),
                ElementsAre("< error add: no route writes to vcan1 (write: true, no id rules) >"));
    EXPECT_THAT(c.feed("< subscribe 0 0 123 >"), IsEmpty()) << "receiving needs no write";
    EXPECT_THAT(c.feed("< subscribe 0 0 >"), ElementsAre("< error syntax: subscribe SEC USEC ID >"));
    EXPECT_THAT(c.feed("< subscribe 0 1000000 123 >"),
                ElementsAre("< error bad interval 0 1000000 (seconds up to 34560000, microseconds up to 999999) >"));
    EXPECT_THAT(c.feed("< filter 0 0 123 2 FF >"), ElementsAre("< error length 2 but 1 data bytes >"));
    EXPECT_THAT(c.feed("< filter 0 0 123 9 1 2 3 4 5 6 7 8 9 >"), ElementsAre("< error bad length 9 >"));
    EXPECT_THAT(c.feed("< muxfilter 0 0 123 1 FF 00 00 00 00 00 00 00 >"),
                ElementsAre("< error bad frame count 1 (2 to 257: the mux mask and a filter per mux value) >"));
    EXPECT_THAT(c.feed("< muxfilter 0 0 123 2 FF 00 >"), ElementsAre("< error 2 frames need 16 data bytes, not 2 >"));
    EXPECT_THAT(c.feed("< unsubscribe >"), ElementsAre("< error syntax: unsubscribe ID >"));
    EXPECT_THAT(c.feed("< fdsubscribe 0 0 123 >"), ElementsAre("< error CAN FD is off on this listener >"));
    c.host.kernel = [](const bcm_msg_head &) { return -EINVAL; };
    EXPECT_THAT(c.feed("< unsubscribe 456 >"), ElementsAre("< error unsubscribe failed: no such job >"));
    EXPECT_EQ(c.host.written.size(), 2u) << "only the two good jobs and the refused one reached the kernel";
    EXPECT_THAT(c.feed("< echo >"), ElementsAre("< echo >"));
}

TEST(SocketcandBcm, NoSocketForABusThatIsGone)
{
    FormatOptions o = bcmOptions();
    o.anyCanBus = true;
    BcmClient c(o);
    c.feed("< open vcan9 >");
    EXPECT_THAT(c.feed("< subscribe 0 0 123 >"),
                ElementsAre("< error cannot open a CAN_BCM socket on vcan9: no interface vcan9 >"));
}

TEST(SocketcandBcm, CanFdFormsWithSocketcandFd)
{
    BcmClient c(bcmOptions(true));
    c.feed("< open vcan0 >");
    EXPECT_THAT(c.feed("< fdadd 0 10000 123 1 12 0 1 2 3 4 5 6 7 8 9 a b >"), IsEmpty());
    bcm_msg_head h = c.host.head(0);
    EXPECT_EQ(h.flags, uint32_t(SETTIMER | STARTTIMER | CAN_FD_FRAME));
    ASSERT_EQ(c.host.written[0].size(), sizeof(bcm_msg_head) + CANFD_MTU);
    canfd_frame f;
    std::memcpy(&f, c.host.written[0].data() + sizeof(bcm_msg_head), sizeof(f));
    EXPECT_EQ(f.len, 12);
    EXPECT_EQ(f.flags, CANFD_BRS);
    EXPECT_EQ(f.data[11], 0x0b);
    EXPECT_THAT(c.feed("< fdsubscribe 0 0 124 >"), IsEmpty());
    EXPECT_EQ(c.host.head(1).flags, uint32_t(RX_FILTER_ID | SETTIMER | CAN_FD_FRAME));
    // A classic job of that id is unknown to the kernel: delete tries the CAN FD one.
    c.host.kernel = [](const bcm_msg_head &head) { return head.flags & CAN_FD_FRAME ? 0 : -EINVAL; };
    EXPECT_THAT(c.feed("< delete 123 >"), IsEmpty());
    EXPECT_EQ(c.host.head(3).flags, uint32_t(CAN_FD_FRAME));
}

TEST(SocketcandControl, StatisticsEveryIntervalAsSocketcandSendsThem)
{
    BcmClient c;
    c.feed("< open vcan0 >");
    EXPECT_THAT(c.feed("< statistics 100 >"), ElementsAre("< error statistics is a controlmode command >"));
    EXPECT_THAT(c.feed("< controlmode >< statistics 100 >"), ElementsAre("< ok >"));
    EXPECT_THAT(c.host.ticks, ElementsAre(100));
    c.codec.decoder->tick();
    EXPECT_THAT(c.feed(""), ElementsAre("< stat 100 10 40 5 >"));
    EXPECT_THAT(c.feed("< statistics x >"), ElementsAre("< error syntax: statistics MILLISECONDS >"));
    EXPECT_THAT(c.feed("< statistics 0 >"), IsEmpty());
    EXPECT_THAT(c.feed("< statistics 50 >< bcmmode >"), ElementsAre("< ok >"));
    EXPECT_THAT(c.host.ticks, ElementsAre(100, 0, 50, 0)) << "leaving CONTROL mode stops them";
    c.host.counters.reset();
    c.feed("< controlmode >");
    c.codec.decoder->tick();
    EXPECT_THAT(c.feed(""), ElementsAre("< error no statistics for vcan0 >"));
}

TEST(SocketcandFormat, SendGoesToTheOpenedBusOnly)
{
    Client c;
    EXPECT_EQ(c.codec.decoder->target(), "");
    c.feed("< open vcan1 >");
    EXPECT_EQ(c.codec.decoder->target(), "vcan1") << "messages carry it as Message::target";
    Message m = messageOf(frameOf(0x123, {1}));
    m.target = "vcan1";
    EXPECT_TRUE(addressedElsewhere(m, "vcan0"));
    EXPECT_FALSE(addressedElsewhere(m, "vcan1"));
    m.target.clear();
    EXPECT_FALSE(addressedElsewhere(m, "vcan0")) << "no target: every routed bus";
}

// StreamConnection over an AF_UNIX datagram pair: each send() arrives as one datagram, so the
// test sees exactly where the connection cut its writes.
TEST(SocketcandFormat, ConnectionSendsGreetingAndEachReplyAlone)
{
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    UniqueFd ours(fds[0]), theirs(fds[1]);
    auto loop = EventLoop::create();
    std::vector<Payload> frames;
    StreamConnection::Handlers handlers;
    handlers.onMessages = [&](StreamConnection &, std::vector<Payload> &p) {
        for (auto &x : p) frames.push_back(x);
    };
    StreamConnection connection(*loop, std::move(ours), "client", 1, *findFormat("socketcand"), optionsWith(), false, false,
                                handlers);
    auto datagrams = [&] {
        std::vector<std::string> out;
        char buffer[4096];
        ssize_t n;
        while ((n = ::recv(theirs.get(), buffer, sizeof(buffer), MSG_DONTWAIT)) > 0) out.emplace_back(buffer, size_t(n));
        return out;
    };
    auto peerSends = [&](std::string_view bytes) {
        ASSERT_EQ(::send(theirs.get(), bytes.data(), bytes.size(), 0), ssize_t(bytes.size()));
    };
    // One loop run (sd-event cannot run again after exit): each step 30 ms after the last.
    std::vector<std::function<void()>> steps = {
        [&] {
            EXPECT_THAT(datagrams(), ElementsAre("< hi >"));
            peerSends("< open vcan0 >< rawmode >< send 123 1 01 >");
        },
        [&] {
            EXPECT_THAT(datagrams(), ElementsAre("< ok >", "< ok >"));
            EXPECT_EQ(frames.size(), 1u);
            EXPECT_TRUE(connection.send(messageOf(frameOf(0x123, {1}))));
            EXPECT_TRUE(connection.send(messageOf(frameOf(0x124, {2}))));
            peerSends("< nope >");
        },
        [&] {
            EXPECT_THAT(datagrams(), ElementsAre("< frame 123 1700000000.123456 01 >< frame 124 1700000000.123456 02 >",
                                                 "< error unknown command >"));
        },
    };
    size_t step = 0;
    std::unique_ptr<Timer> timer;
    timer = loop->makeTimer([&] {
        steps[step++]();
        if (step == steps.size())
            loop->exit(0);
        else
            timer->arm(std::chrono::milliseconds(30));
    });
    timer->arm(std::chrono::milliseconds(30));
    loop->run();
    EXPECT_EQ(step, steps.size());
    EXPECT_FALSE(connection.closed());
}

}  // namespace
