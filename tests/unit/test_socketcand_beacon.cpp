// SPDX-License-Identifier: MIT
// socketcand's discovery beacon: its bytes, and the config key that turns it on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_helpers.h"
#include "formats/socketcand_beacon.h"

namespace sockbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

SocketAddress address(std::string_view text)
{
    std::string error;
    auto parsed = parseInetAddress(text, error);
    EXPECT_TRUE(parsed) << error;
    return parsed.value_or(SocketAddress{});
}

FormatOptions withBeacon(std::string name, std::string description, std::vector<std::string> buses)
{
    FormatOptions options;
    options.beacon = FormatOptions::Beacon{.to = address("255.255.255.255:42000"), .name = std::move(name),
                                           .description = std::move(description)};
    options.canBuses = std::move(buses);
    return options;
}

TEST(SocketcandBeacon, IsSocketcandsTextWithEveryBus)
{
    // socketcand's beacon.c: the header, a newline, the URL, then one <Bus/> per interface.
    EXPECT_EQ(socketcandBeacon(withBeacon("board7", "sockbridge", {"can0", "vcan1"}), address("10.0.0.1:29536")),
              "<CANBeacon name=\"board7\" type=\"SocketCAN\" description=\"sockbridge\">\n"
              "<URL>can://10.0.0.1:29536</URL><Bus name=\"can0\"/><Bus name=\"vcan1\"/></CANBeacon>");
}

TEST(SocketcandBeacon, EscapesWhatWouldEndAnAttribute)
{
    EXPECT_EQ(socketcandBeacon(withBeacon("a\"b", "<x & y>", {}), address("[::1]:29536")),
              "<CANBeacon name=\"a&quot;b\" type=\"SocketCAN\" description=\"&lt;x &amp; y&gt;\">\n"
              "<URL>can://[::1]:29536</URL></CANBeacon>");
}

TEST(SocketcandBeacon, DefaultsToTheHostName)
{
    char host[256] = {};
    ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
    EXPECT_THAT(socketcandBeacon(withBeacon("", "d", {}), address("127.0.0.1:1")),
                HasSubstr(std::string("name=\"") + host + "\""));
}

const FormatOptions &onlyListenerOptions(const Config &config) { return config.listeners.at(0)->formatOptions; }

TEST(SocketcandBeaconConfig, TrueTakesSocketcandsDefaults)
{
    Config config = parseConfig("listeners:\n  sc: {type: tcp, listen: '*:29536', format: socketcand, "
                                "socketcand_beacon: true}\n",
                                "b.yaml");
    const auto &beacon = onlyListenerOptions(config).beacon;
    ASSERT_TRUE(beacon);
    EXPECT_EQ(beacon->to.toString(), "255.255.255.255:42000");
    EXPECT_EQ(beacon->interval, std::chrono::seconds(2));
    EXPECT_EQ(beacon->description, "sockbridge");
}

TEST(SocketcandBeaconConfig, AMapSetsEachKeyAndFalseNone)
{
    Config config = parseConfig("listeners:\n"
                                "  sc: {type: tcp, listen: '*:29536', format: socketcand, socketcand_beacon:\n"
                                "       {to: 10.1.255.255:42000, interval: 500ms, name: bench, description: lab}}\n"
                                "  off: {type: tcp, listen: 29537, format: socketcand, socketcand_beacon: false}\n",
                                "b.yaml");
    const auto &beacon = onlyListenerOptions(config).beacon;
    ASSERT_TRUE(beacon);
    EXPECT_EQ(beacon->to.toString(), "10.1.255.255:42000");
    EXPECT_EQ(beacon->interval, std::chrono::milliseconds(500));
    EXPECT_EQ(beacon->name, "bench");
    EXPECT_EQ(beacon->description, "lab");
    EXPECT_FALSE(config.listeners.at(1)->formatOptions.beacon);
}

TEST(SocketcandBeaconConfig, RefusedWhereNoSocketcandServerListens)
{
    EXPECT_THAT(configErrorsOf("listeners:\n  t: {type: tcp, listen: 1, format: lines, socketcand_beacon: true}\n",
                               "b.yaml"),
                ElementsAre("b.yaml:2:63: 'socketcand_beacon' applies only to format 'socketcand', not to 'lines'"));
    EXPECT_THAT(configErrorsOf("listeners:\n  t: {type: tcp, connect: 127.0.0.1:9, format: socketcand, "
                               "socketcand_beacon: true}\n",
                               "b.yaml"),
                ElementsAre(HasSubstr("b.yaml:2:79: 'socketcand_beacon' applies only to a tcp listener with "
                                      "'listen'")));
}

TEST(SocketcandBeaconConfig, BadMapsArePositioned)
{
    EXPECT_THAT(configErrorsOf("listeners:\n  sc:\n    type: tcp\n    listen: 1\n    format: socketcand\n"
                               "    socketcand_beacon:\n      to: 10.0.0.255\n      interval: 10ms\n      nmae: x\n",
                               "b.yaml"),
                ElementsAre(HasSubstr("b.yaml:7:11:"), "b.yaml:8:17: 'interval' must be between 100ms and 1h "
                                                           "(clients expect one at least every 3s)",
                            HasSubstr("b.yaml:9:7: unknown key 'nmae'")));
    EXPECT_THAT(configErrorsOf("listeners:\n  sc: {type: tcp, listen: 1, format: socketcand, socketcand_beacon: 3}\n",
                               "b.yaml"),
                ElementsAre(HasSubstr("b.yaml:2:")));
}

}  // namespace
}  // namespace sockbridge
