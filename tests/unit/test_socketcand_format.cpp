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
    EXPECT_THAT(c.feed("< bcmmode >"), ElementsAre("< error bcmmode not supported >"));
    EXPECT_THAT(c.feed("< isotpmode >"), ElementsAre("< error isotpmode not supported >"));
    EXPECT_THAT(c.feed("< fdsend 123 1 2 01 02 >"), ElementsAre("< error CAN FD is off on this listener >"));
    EXPECT_THAT(c.feed("< " + std::string(2000, 'x') + " > < echo >"),
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
    EXPECT_THAT(c.feed("< statistics 1000 >"), ElementsAre("< error statistics not supported >"));
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
