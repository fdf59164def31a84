// SPDX-License-Identifier: MIT
// Config parsing: accepted configs and every error with its exact position and words.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_helpers.h"
#include "build_config.h"
#include "config/config.h"

using namespace sockbridge;
using ::testing::ElementsAre;

namespace {

#if HAVE_PCAP
constexpr const char *kBadLogFormat = "test.yaml:5:33: 'format' must be one of jsonl, hex, raw, candump, pcap, packet-jsonl, not 'csv'";
#else
constexpr const char *kBadLogFormat = "test.yaml:5:33: 'format' must be one of jsonl, hex, raw, candump, packet-jsonl, not 'csv'";
#endif

// The errors of a config as "FILE:LINE:COL: message" lines; empty when it is valid.
std::vector<std::string> errorsOf(const std::string &yaml) { return configErrorsOf(yaml, "test.yaml"); }

}  // namespace

TEST(Config, AcceptsTcpBridgeWithLog)
{
    Config config = parseConfig(R"(listeners:
  in:
    type: tcp
    listen: 127.0.0.1:7000
    format: lines
  out:
    type: tcp
    connect: "[::1]:7001"
    reconnect: {initial: 10ms, max: 2s}
routes:
  - from: in
    to: out
    queue: {max_messages: 10, max_bytes: 1KiB, overflow: block}
  - from: in
    log: {path: /tmp/x.jsonl, format: hex, rotate: {size: 1MiB, keep: 2}}
daemon: {shutdown_timeout: 250ms}
)",
                                "ok.yaml");
    ASSERT_EQ(config.listeners.size(), 2u);
    EXPECT_EQ(config.listeners[0]->name, "in");
    EXPECT_EQ(config.listeners[0]->format->name, "lines");
    EXPECT_EQ(config.listeners[0]->role(), StreamRole::Accepting);
    EXPECT_EQ(config.listeners[1]->role(), StreamRole::Connecting);
    EXPECT_EQ(config.listeners[1]->format->name, "raw");
    ASSERT_EQ(config.routes.size(), 2u);
    EXPECT_EQ(config.routes[0].name, "in->out");
    EXPECT_EQ(config.routes[0].queue.maxMessages, 10u);
    EXPECT_EQ(config.routes[0].queue.maxBytes, 1024u);
    EXPECT_EQ(config.routes[0].queue.overflow, OverflowPolicy::Block);
    ASSERT_TRUE(config.routes[1].log);
    EXPECT_EQ(config.routes[1].log->path, "/tmp/x.jsonl");
    EXPECT_EQ(config.routes[1].log->format, LogFormat::Hex);
    EXPECT_EQ(config.routes[1].log->rotateSize, 1024u * 1024u);
    EXPECT_EQ(config.routes[1].log->keep, 2u);
    EXPECT_EQ(config.daemon.shutdownTimeout, std::chrono::milliseconds(250));
}

TEST(Config, ExpandsFanOutFanInAndBidirectional)
{
    Config config = parseConfig(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:7000}
  b: {type: tcp, listen: 127.0.0.1:7001}
  c: {type: tcp, listen: 127.0.0.1:7002}
routes:
  - from: a
    to: [b, c]
  - from: [b, c]
    to: a
    name: back
  - from: b
    to: c
    bidirectional: true
)",
                                "ok.yaml");
    std::vector<std::string> names;
    for (const auto &route : config.routes) names.push_back(route.name);
    EXPECT_THAT(names, ElementsAre("a->b", "a->c", "back (b->a)", "back (c->a)", "b->c", "c->b"));
}

TEST(Config, ReportsUnknownKeyWithDidYouMean)
{
    EXPECT_THAT(errorsOf("listeners:\n  in:\n    type: tcp\n    listen: 127.0.0.1:1\n    formt: lines\n"),
                ElementsAre("test.yaml:5:5: unknown key 'formt' in listener 'in' (did you mean 'format'?)"));
}

TEST(Config, ReportsUnknownTopLevelKey)
{
    EXPECT_THAT(errorsOf("listener:\n  in: {type: tcp, listen: 127.0.0.1:1}\n"),
                ElementsAre("test.yaml:1:1: unknown key 'listener' in the top level (did you mean 'listeners'?)",
                            "test.yaml:1:1: missing 'listeners': the config needs at least one listener"));
}

TEST(Config, ReportsWrongTypes)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  in:
    type: tcp
    listen: [127.0.0.1, 1]
    nodelay: maybe
    max_clients: lots
)"),
                ElementsAre("test.yaml:4:13: 'listen' must be a string, not a list",
                            "test.yaml:5:14: 'nodelay' must be true or false, not 'maybe'",
                            "test.yaml:6:18: 'max_clients' must be a whole number, not 'lots'"));
}

TEST(Config, ReportsBadAddressAndPort)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:99999}
  b: {type: tcp, connect: "127.0.0.1"}
  c: {type: tcp, connect: "::1:80"}
)"),
                ElementsAre("test.yaml:2:26: bad address '127.0.0.1:99999' for 'listen': port 99999 is out of range "
                            "(0-65535)",
                            "test.yaml:3:27: bad address '127.0.0.1' for 'connect': missing port (expected HOST:PORT)",
                            "test.yaml:4:27: bad address '::1:80' for 'connect': IPv6 addresses need brackets: "
                            "[::1]:80"));
}

TEST(Config, ReportsDuplicateListenerName)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  in: {type: tcp, listen: 127.0.0.1:1}
  in: {type: tcp, listen: 127.0.0.1:2}
)"),
                ElementsAre("test.yaml:3:3: duplicate listener name 'in' (first defined at line 2)"));
}

TEST(Config, ReportsRouteToUnknownListenerWithDidYouMean)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  ingress: {type: tcp, listen: 127.0.0.1:1}
  egress: {type: tcp, connect: 127.0.0.1:2}
routes:
  - from: ingres
    to: [egress, nowhere]
)"),
                ElementsAre("test.yaml:5:11: route names unknown listener 'ingres' (did you mean 'ingress'?)",
                            "test.yaml:6:18: route names unknown listener 'nowhere'"));
}

TEST(Config, ReportsConflictingOptions)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a:
    type: tcp
    listen: 127.0.0.1:1
    connect: 127.0.0.1:2
  b:
    type: tcp
    connect: 127.0.0.1:2
    max_clients: 4
routes:
  - from: b
    to: b
  - from: b
    to: a
    log: {path: /tmp/x}
)"),
                ElementsAre("test.yaml:5:14: a tcp listener has either 'listen' or 'connect', not both",
                            "test.yaml:9:18: 'max_clients' applies only to 'listen'",
                            "test.yaml:12:9: route from 'b' to itself",
                            "test.yaml:15:10: a route has either 'to' or 'log', not both"));
}

TEST(Config, ReportsUnknownTypeAndFormatWithDidYouMean)
{
    EXPECT_THAT(errorsOf("listeners:\n  a: {type: tpc, listen: 127.0.0.1:1}\n  b: {type: tcp, listen: 127.0.0.1:2, "
                         "format: line}\n"),
                ElementsAre("test.yaml:2:13: unknown listener type 'tpc' (did you mean 'tcp'?)",
                            "test.yaml:3:47: unknown format 'line' (did you mean 'lines'?)"));
}

TEST(Config, ReportsBadQueueAndLogSettings)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:1}
routes:
  - from: a
    log: {path: /tmp/x, format: csv, rotate: {size: 10, keep: 0}}
  - from: a
    log: {path: /tmp/y}
    queue: {max_messages: 0, overflow: drop-oldst}
)"),
                ElementsAre(kBadLogFormat,
                            "test.yaml:5:53: 'size' must be at least 4KiB",
                            "test.yaml:5:63: 'keep' is 0, outside 1..1000",
                            "test.yaml:8:27: 'max_messages' is 0, outside 1..100000000",
                            "test.yaml:8:40: 'overflow' must be one of drop-newest, drop-oldest, block, not "
                            "'drop-oldst' (did you mean 'drop-oldest'?)"));
}

TEST(Config, ReportsInvalidYamlWithPosition)
{
    EXPECT_THAT(errorsOf("listeners:\n  a: {type: tcp\n"),
                ElementsAre(::testing::StartsWith("test.yaml:3:1: invalid YAML: ")));
}

TEST(Config, ReportsPerConnectionNeedsAcceptingAndConnecting)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:1}
  b: {type: tcp, listen: 127.0.0.1:2}
routes:
  - from: a
    to: b
    per_connection: true
)"),
                ElementsAre("test.yaml:5:5: per_connection needs 'to' to be a connecting stream listener; 'b' is "
                            "not"));
}

TEST(Config, PerConnectionTargetCannotBeInOtherRoutes)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:1}
  b: {type: tcp, connect: 127.0.0.1:2}
routes:
  - from: a
    to: b
    per_connection: true
  - from: b
    log: {path: /tmp/b.log}
)"),
                ElementsAre("test.yaml:8:5: listener 'b' opens one connection per client of 'a' (per_connection) "
                            "and cannot be in other routes"));
}

TEST(Config, MarksPerConnectionTargetOnDemand)
{
    Config config = parseConfig(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:1}
  b: {type: tcp, connect: 127.0.0.1:2}
routes:
  - {from: a, to: b, per_connection: true}
)",
                                "ok.yaml");
    EXPECT_FALSE(config.findListener("a")->onDemand);
    EXPECT_TRUE(config.findListener("b")->onDemand);
    ASSERT_EQ(config.routes.size(), 2u);
    EXPECT_TRUE(config.routes[0].perConnection);
}

TEST(Config, ReportsUnreadableFile)
{
    try {
        loadConfig("/nonexistent/sockbridge.yaml");
        FAIL() << "no exception";
    } catch (const ConfigException &e) {
        ASSERT_EQ(e.errors().size(), 1u);
        EXPECT_EQ(e.errors()[0].toString(),
                  "/nonexistent/sockbridge.yaml:1:1: cannot read the config: No such file or directory");
    }
}

TEST(Config, SystemdSocketAndUser)
{
    Config config = parseConfig(R"(user: root
group: root
listeners:
  front: {type: tcp, listen: 127.0.0.1:7000, format: lines, systemd: front-socket}
  back: {type: udp, bind: 127.0.0.1:7001, systemd: back}
routes:
  - {from: front, to: back}
)",
                                "ok.yaml");
    ASSERT_TRUE(config.runAs);
    EXPECT_EQ(config.runAs->uid, 0u);
    EXPECT_EQ(config.listeners[0]->systemdName, "front-socket");
    EXPECT_EQ(config.listeners[1]->systemdName, "back");
}

TEST(Config, SystemdOnConnectAndUnknownUserArePositionedErrors)
{
    EXPECT_THAT(errorsOf(R"(user: no-such-user-here
listeners:
  out: {type: tcp, connect: 127.0.0.1:7000, systemd: out}
)"),
                ElementsAre("test.yaml:1:7: unknown user 'no-such-user-here' (create it, e.g. with systemd-sysusers)",
                            "test.yaml:3:54: 'systemd' replaces binding 'listen' (udp: 'bind') with a socket from "
                            "systemd; it needs that address and does not apply to 'connect'"));
}

TEST(Config, ReportsBadAllowListItemsAtTheirPositions)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  a: {type: tcp, listen: 127.0.0.1:1, allow: [127.0.0.0/8, 10.1.2.3/16, "::1/129"]}
  b: {type: udp, bind: 127.0.0.1:2, allow: []}
  c: {type: tcp, connect: 127.0.0.1:3, allow: [10.0.0.0/8]}
)"),
                ElementsAre("test.yaml:2:60: bad CIDR block '10.1.2.3/16' in 'allow': '10.1.2.3/16' has bits set after "
                            "the first 16 (a network address was meant?)",
                            "test.yaml:2:73: bad CIDR block '::1/129' in 'allow': prefix length '129' must be a number "
                            "from 0 to 128",
                            "test.yaml:3:44: 'allow' must be a list of CIDR blocks, as [127.0.0.0/8, \"::1/128\"]",
                            "test.yaml:4:47: 'allow' applies only to 'listen'"));
}
