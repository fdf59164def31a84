// SPDX-License-Identifier: MIT
// CAN config: can listeners, route write permission, filter_ids/rewrite/allow_ids and their rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_helpers.h"
#include "config/config.h"
#include "core/can_id_rules.h"

using namespace sockbridge;
using ::testing::ElementsAre;

namespace {

std::vector<std::string> errorsOf(const std::string &yaml) { return configErrorsOf(yaml, "can.yaml"); }

MessagePtr frameMessage(uint32_t id, std::vector<uint8_t> data = {1})
{
    CanFrame frame;
    frame.id = id;
    frame.len = uint8_t(data.size());
    std::copy(data.begin(), data.end(), frame.data.begin());
    auto message = std::make_shared<Message>();
    message->kind = MessageKind::CanFrame;
    frame.appendTo(message->data);
    return message;
}

uint32_t idOf(const MessagePtr &message) { return CanFrame::parse(message->data)->id; }

}  // namespace

TEST(CanConfig, AcceptsGatewayWithFilterRewriteAndAllowlist)
{
    Config config = parseConfig(R"(listeners:
  bus0: {type: can, interface: vcan0, filters: ["100/700", "!7DF", "18DAF110"], error_frames: 0x1ff, fd: true}
  bus1: {type: can, interface: vcan1, wait: true}
  all: {type: can, interface: any}
routes:
  - from: bus0
    to: bus1
    write: true
    filter_ids: [0x100-0x1FF, "!0x150"]
    rewrite: {from: 0x100-0x10F, to: 0x200}
    allow_ids: [0x200-0x2FF, 0x18DAF110]
  - from: all
    log: {path: /tmp/can.log, format: candump}
)",
                                "ok.yaml");
    ASSERT_EQ(config.listeners.size(), 3u);
    EXPECT_TRUE(config.listeners[0]->writesToBus());
    ASSERT_EQ(config.routes.size(), 2u);
    const RouteSpec &gateway = config.routes[0];
    EXPECT_TRUE(gateway.write);
    ASSERT_EQ(gateway.can.filter.size(), 1u);
    ASSERT_EQ(gateway.can.exclude.size(), 1u);
    ASSERT_EQ(gateway.can.rewrites.size(), 1u);
    ASSERT_TRUE(gateway.can.allow);
    EXPECT_EQ(gateway.can.allow->size(), 2u);
    EXPECT_TRUE((*gateway.can.allow)[1].extended);
    EXPECT_EQ(config.routes[1].log->format, LogFormat::Candump);
}

TEST(CanConfig, RouteToCanListenerNeedsWrite)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  tcp: {type: tcp, listen: 127.0.0.1:7000, format: candump}
  bus: {type: can, interface: vcan0}
routes:
  - from: tcp
    to: bus
  - from: bus
    to: tcp
    bidirectional: true
)"),
                ElementsAre("can.yaml:5:5: route to CAN listener 'bus' writes to the bus: set 'write: true'",
                            "can.yaml:7:5: route to CAN listener 'bus' writes to the bus: set 'write: true'"));
}

TEST(CanConfig, ReportsBadCanKeysWithPositions)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: can, interface: vcan0, filters: ["12G", "100/700"], join: true, error_frames: maybe}
  b: {type: can, interface: any, wait: true, coalesce: 200ms}
  c: {type: can}
routes:
  - from: a
    to: b
    write: true
    allow_ids: [0x100-0x0FF, "!0x7DF", 0x20000000]
    rewrite: {from: 0x100-0x1FF, to: 0x780}
)"),
                ElementsAre("can.yaml:2:46: filter '12G' is not hex ID/MASK (\"123\", \"100/700\", \"!7DF\", "
                            "\"18DAF110/1FFFFFFF\")",
                            "can.yaml:2:91: 'error_frames' must be a whole number, not 'maybe'",
                            "can.yaml:3:40: 'wait' is for a named interface, not 'any'",
                            "can.yaml:3:56: 'coalesce' must be at most 100ms",
                            "can.yaml:4:6: a can listener needs 'interface: NAME' (vcan0, can0) or 'any'",
                            "can.yaml:9:17: range '0x100-0x0FF' ends before it starts",
                            "can.yaml:9:30: 'allow_ids' lists what may pass: '!' is for 'filter_ids'",
                            "can.yaml:9:40: '0x20000000' is out of range: CAN ids go up to 0x1FFFFFFF",
                            "can.yaml:10:38: rewriting 0x100-0x1FF to 0x780 runs past the last standard id"));
}

TEST(CanConfig, ReceiveBufferIsASizeFrom4KiBTo1GiB)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: can, interface: vcan0, receive_buffer: 1KiB}
  b: {type: can, interface: vcan1, receive_buffer: 64KiB}
)"),
                ElementsAre("can.yaml:2:52: 'receive_buffer' must be between 4KiB and 1GiB"));
}

TEST(CanConfig, ListenerOnAnyCannotBeARouteTarget)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: can, interface: vcan0}
  all: {type: can, interface: any}
routes:
  - from: a
    to: all
    write: true
)"),
                ElementsAre("can.yaml:5:5: route to listener 'all': a can listener on 'any' only receives: name an "
                            "interface to write to"));
}

TEST(CanRouteRules, FiltersRewritesThenChecksTheAllowlist)
{
    std::string why;
    CanRouteRules rules;
    rules.filter.push_back(*parseCanIdMatch("0x100-0x1FF", why));
    rules.exclude.push_back(*parseCanIdMatch("0x150", why));
    rules.rewrites.push_back({*parseCanIdMatch("0x100-0x10F", why), 0x200, false});
    rules.allow.emplace();
    rules.allow->push_back(*parseCanIdMatch("0x200-0x20F", why));
    rules.allow->push_back(*parseCanIdMatch("0x180", why));

    MessagePtr m = frameMessage(0x105);
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::Pass);
    EXPECT_EQ(idOf(m), 0x205u);
    m = frameMessage(0x180);
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::Pass);
    EXPECT_EQ(idOf(m), 0x180u);
    m = frameMessage(0x150);
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::Filtered);
    m = frameMessage(0x300);
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::Filtered);
    m = frameMessage(0x100 | CanFrame::kEffFlag);  // extended 0x100 is not standard 0x100
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::Filtered);
    m = frameMessage(0x1A0);
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::NotAllowed);
    EXPECT_EQ(why, "id 0x1A0 is not in allow_ids");
    auto text = std::make_shared<Message>();
    text->data = {'h', 'i'};
    m = text;
    EXPECT_EQ(rules.apply(m, why), CanRouteRules::Verdict::NotCan);
    EXPECT_EQ(why, "a 2-byte bytes message is not a CAN frame");
}

TEST(CanRouteRules, ParsesIdsAndRanges)
{
    std::string why;
    auto match = parseCanIdMatch("0x000007DF", why);
    ASSERT_TRUE(match);
    EXPECT_TRUE(match->extended);
    match = parseCanIdMatch("2015", why);
    ASSERT_TRUE(match);
    EXPECT_EQ(match->first, 0x7DFu);
    EXPECT_FALSE(match->extended);
    EXPECT_EQ(match->toString(), "0x7DF");
    EXPECT_FALSE(parseCanIdMatch("abc", why));
    EXPECT_EQ(why, "'abc' is not a CAN id (0x7DF, 2015) or a range (0x100-0x1FF)");
}

TEST(CanConfig, SocketcandOffersTheRoutedCanInterfaces)
{
    Config config = parseConfig(R"(listeners:
  a: {type: can, interface: vcan0}
  b: {type: can, interface: vcan1}
  c: {type: can, interface: vcan2}
  d: {type: can, interface: vcan3}
  sc: {type: tcp, listen: 127.0.0.1:7000, format: socketcand, socketcand_fd: true}
routes:
  - {from: [b, a], to: sc}
  - {from: sc, to: a, write: true}
  - {from: sc, to: d, write: true, allow_ids: [0x100]}
)",
                                "can.yaml");
    const ListenerSpec *sc = config.findListener("sc");
    ASSERT_NE(sc, nullptr);
    EXPECT_THAT(sc->formatOptions.canBuses, ElementsAre("vcan0", "vcan1", "vcan3"));
    // BCM transmit jobs bypass the route: only where it writes with no id rules.
    EXPECT_THAT(sc->formatOptions.canWritableBuses, ElementsAre("vcan0"));
    EXPECT_NE(sc->formatOptions.sessionServices, nullptr);
    EXPECT_FALSE(sc->formatOptions.anyCanBus);
    EXPECT_TRUE(sc->formatOptions.socketcandFd);
    EXPECT_EQ(sc->derived, "socketcand buses: vcan0 vcan1 vcan3");
}

TEST(CanConfig, SocketcandNeedsAStreamAndItsOwnKey)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  u: {type: udp, bind: 127.0.0.1:7000, format: socketcand}
  t: {type: tcp, listen: 127.0.0.1:7001, format: candump, socketcand_fd: true}
)"),
                ElementsAre("can.yaml:2:48: format 'socketcand' is a session over a connection: use it on a tcp or "
                            "unix stream listener, not on a 'udp' listener",
                            "can.yaml:3:74: 'socketcand_fd' applies only to format 'socketcand', not to 'candump'"));
}
