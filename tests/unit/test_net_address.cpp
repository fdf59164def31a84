// SPDX-License-Identifier: MIT
// Unit tests for socket address parsing, printing and the size and duration parsers.
#include "core/net_address.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

using namespace sockbridge;
using namespace std::chrono_literals;

namespace {

constexpr size_t kSunPathOffset = offsetof(sockaddr_un, sun_path);

// Parses text that must be valid; the test fails with the parser's sentence otherwise.
SocketAddress inet(std::string_view text)
{
    std::string error;
    auto addr = parseInetAddress(text, error);
    EXPECT_TRUE(addr.has_value()) << text << ": " << error;
    return addr.value_or(SocketAddress{});
}

// The sentence parseInetAddress gives for text that must be rejected.
std::string inetError(std::string_view text)
{
    std::string error;
    auto addr = parseInetAddress(text, error);
    EXPECT_FALSE(addr.has_value()) << text << " parsed as " << addr->toString();
    return error;
}

std::string unixError(std::string_view text)
{
    std::string error;
    auto addr = parseUnixAddress(text, error);
    EXPECT_FALSE(addr.has_value()) << text;
    return error;
}

std::string sizeError(std::string_view text)
{
    std::string error;
    auto size = parseSize(text, error);
    EXPECT_FALSE(size.has_value()) << text << " parsed as " << *size;
    return error;
}

std::string durationError(std::string_view text)
{
    std::string error;
    auto duration = parseDuration(text, error);
    EXPECT_FALSE(duration.has_value()) << text << " parsed as " << duration->count() << "ns";
    return error;
}

uint64_t size(std::string_view text)
{
    std::string error;
    auto value = parseSize(text, error);
    EXPECT_TRUE(value.has_value()) << text << ": " << error;
    return value.value_or(0);
}

std::chrono::nanoseconds duration(std::string_view text)
{
    std::string error;
    auto value = parseDuration(text, error);
    EXPECT_TRUE(value.has_value()) << text << ": " << error;
    return value.value_or(std::chrono::nanoseconds(-1));
}

const sockaddr_in &asV4(const SocketAddress &addr)
{
    return *reinterpret_cast<const sockaddr_in *>(&addr.storage);
}

const sockaddr_in6 &asV6(const SocketAddress &addr)
{
    return *reinterpret_cast<const sockaddr_in6 *>(&addr.storage);
}

const sockaddr_un &asUnix(const SocketAddress &addr)
{
    return *reinterpret_cast<const sockaddr_un *>(&addr.storage);
}

}  // namespace

// --- HOST:PORT ---------------------------------------------------------------------------------

TEST(NetAddress, ParsesIpv4HostAndPort)
{
    SocketAddress addr = inet("127.0.0.1:5000");
    EXPECT_EQ(addr.family(), AF_INET);
    EXPECT_EQ(addr.length, sizeof(sockaddr_in));
    EXPECT_EQ(asV4(addr).sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    EXPECT_EQ(asV4(addr).sin_port, htons(5000));
    EXPECT_EQ(addr.port(), 5000);
    EXPECT_EQ(addr.toString(), "127.0.0.1:5000");
}

TEST(NetAddress, StarMeansAnyIpv4)
{
    EXPECT_EQ(inet("*:5000").toString(), "0.0.0.0:5000");
    EXPECT_EQ(asV4(inet("*:5000")).sin_addr.s_addr, htonl(INADDR_ANY));
    EXPECT_EQ(inet("*:5000"), inet("0.0.0.0:5000"));
}

// Safe default: what does not name an address stays on this host.
TEST(NetAddress, BarePortAndEmptyHostMeanLoopback)
{
    EXPECT_EQ(inet("5000").toString(), "127.0.0.1:5000");
    EXPECT_EQ(inet(":5000").toString(), "127.0.0.1:5000");
    EXPECT_EQ(inetError("99999"), "port 99999 is out of range (0-65535)");
}

TEST(NetAddress, AcceptsPortZeroAndPort65535)
{
    EXPECT_EQ(inet("127.0.0.1:0").port(), 0);
    EXPECT_EQ(inet("127.0.0.1:0").toString(), "127.0.0.1:0");
    EXPECT_EQ(inet("1.2.3.4:65535").port(), 65535);
    EXPECT_EQ(inet("1.2.3.4:00080").port(), 80);
}

TEST(NetAddress, ParsesBracketedIpv6)
{
    SocketAddress addr = inet("[::1]:5000");
    EXPECT_EQ(addr.family(), AF_INET6);
    EXPECT_EQ(addr.length, sizeof(sockaddr_in6));
    EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&asV6(addr).sin6_addr));
    EXPECT_EQ(asV6(addr).sin6_scope_id, 0u);
    EXPECT_EQ(addr.port(), 5000);
    EXPECT_EQ(addr.toString(), "[::1]:5000");
    EXPECT_EQ(inet("[::]:80").toString(), "[::]:80");
}

TEST(NetAddress, PrintsIpv6InCanonicalForm)
{
    EXPECT_EQ(inet("[2001:0db8:0000:0000:0000:0000:0000:0001]:443").toString(),
              "[2001:db8::1]:443");
}

TEST(NetAddress, ParsesIpv6ScopeByInterfaceNameAndPrintsItBack)
{
    unsigned loIndex = if_nametoindex("lo");
    if (loIndex == 0)
        GTEST_SKIP() << "no loopback interface 'lo' in this environment";
    SocketAddress addr = inet("[ff02::1%lo]:5000");
    EXPECT_EQ(addr.family(), AF_INET6);
    EXPECT_EQ(asV6(addr).sin6_scope_id, loIndex);
    EXPECT_EQ(addr.port(), 5000);
    EXPECT_TRUE(addr.isMulticast());
    EXPECT_EQ(addr.toString(), "[ff02::1%lo]:5000");
    EXPECT_EQ(inet(addr.toString()), addr);
}

TEST(NetAddress, ParsesIpv6ScopeByIndex)
{
    SocketAddress addr = inet("[fe80::1%7]:80");
    EXPECT_EQ(asV6(addr).sin6_scope_id, 7u);
}

TEST(NetAddress, PrintsUnknownScopeIndexAsNumber)
{
    // No interface has this index, so there is no name to print.
    SocketAddress addr = inet("[fe80::1%999999]:80");
    EXPECT_EQ(addr.toString(), "[fe80::1%999999]:80");
}

TEST(NetAddress, RejectsUnknownScopeInterface)
{
    EXPECT_EQ(inetError("[fe80::1%nosuchif0]:80"),
              "unknown network interface 'nosuchif0' in scope of 'fe80::1%nosuchif0'");
    EXPECT_EQ(inetError("[fe80::1%]:80"), "empty scope after '%' in 'fe80::1%'");
}

TEST(NetAddress, ResolvesLocalhost)
{
    SocketAddress addr = inet("localhost:8080");
    EXPECT_EQ(addr.port(), 8080);
    std::string text = addr.toString();
    EXPECT_TRUE(text == "127.0.0.1:8080" || text == "[::1]:8080") << text;
}

TEST(NetAddress, ResolvesShortNumericIpv4WithoutAResolver)
{
    EXPECT_EQ(inet("127.1:80").toString(), "127.0.0.1:80");
}

TEST(NetAddress, RejectsMissingPort)
{
    EXPECT_EQ(inetError("127.0.0.1"), "missing port (expected HOST:PORT)");
    EXPECT_EQ(inetError("127.0.0.1:"), "missing port (expected HOST:PORT)");
    EXPECT_EQ(inetError("localhost"), "missing port (expected HOST:PORT)");
    EXPECT_EQ(inetError("[::1]"), "missing port (expected HOST:PORT)");
    EXPECT_EQ(inetError("[::1]:"), "missing port (expected HOST:PORT)");
}

TEST(NetAddress, RejectsEmptyAddress)
{
    EXPECT_EQ(inetError(""), "empty address (expected HOST:PORT)");
}

TEST(NetAddress, RejectsPortOutOfRange)
{
    EXPECT_EQ(inetError("1.2.3.4:99999"), "port 99999 is out of range (0-65535)");
    EXPECT_EQ(inetError("1.2.3.4:65536"), "port 65536 is out of range (0-65535)");
    EXPECT_EQ(inetError("[::1]:65536"), "port 65536 is out of range (0-65535)");
    EXPECT_EQ(inetError("1.2.3.4:184467440737095516160"),
              "port 184467440737095516160 is out of range (0-65535)");
}

TEST(NetAddress, RejectsPortThatIsNotANumber)
{
    EXPECT_EQ(inetError("1.2.3.4:http"), "port 'http' is not a number");
    EXPECT_EQ(inetError("1.2.3.4:-1"), "port '-1' is not a number");
    EXPECT_EQ(inetError("1.2.3.4: 80"), "port ' 80' is not a number");
}

TEST(NetAddress, RejectsIpv6WithoutBrackets)
{
    EXPECT_EQ(inetError("::1:80"), "IPv6 addresses need brackets: [::1]:80");
    EXPECT_EQ(inetError("2001:db8::1:443"), "IPv6 addresses need brackets: [2001:db8::1]:443");
    EXPECT_EQ(inetError("::1"), "IPv6 addresses need brackets: [::1]:PORT");
    EXPECT_EQ(inetError("fe80::1"), "IPv6 addresses need brackets: [fe80::1]:PORT");
    EXPECT_EQ(inetError("a:b:c"), "invalid address 'a:b:c' (expected HOST:PORT, IPv6 in brackets)");
}

TEST(NetAddress, RejectsMalformedBrackets)
{
    EXPECT_EQ(inetError("[::1:80"), "missing ']' in '[::1:80'");
    EXPECT_EQ(inetError("[::1]80"), "expected ':' and a port after ']' in '[::1]80'");
    EXPECT_EQ(inetError("[1.2.3.4]:80"),
              "'1.2.3.4' is not an IPv6 address (only IPv6 goes in brackets)");
    EXPECT_EQ(inetError("[]:80"), "'' is not an IPv6 address (only IPv6 goes in brackets)");
}

TEST(NetAddress, ReportsUnresolvableHost)
{
    EXPECT_EQ(inetError("300.1.1.1:5"), "cannot resolve host '300.1.1.1'");
    EXPECT_EQ(inetError("1.2.3:5:"),
              "invalid address '1.2.3:5:' (expected HOST:PORT, IPv6 in brackets)");
}

TEST(NetAddress, KnowsMulticastAddresses)
{
    EXPECT_TRUE(inet("239.1.2.3:5000").isMulticast());
    EXPECT_TRUE(inet("224.0.0.1:5000").isMulticast());
    EXPECT_FALSE(inet("223.255.255.255:5000").isMulticast());
    EXPECT_FALSE(inet("10.0.0.1:1").isMulticast());
    EXPECT_TRUE(inet("[ff02::1]:1").isMulticast());
    EXPECT_FALSE(inet("[fe80::1]:1").isMulticast());
}

TEST(NetAddress, ComparesFamilyAndBytes)
{
    EXPECT_EQ(inet("10.0.0.1:80"), inet("10.0.0.1:80"));
    EXPECT_FALSE(inet("10.0.0.1:80") == inet("10.0.0.1:81"));
    EXPECT_FALSE(inet("10.0.0.1:80") == inet("10.0.0.2:80"));
    EXPECT_FALSE(inet("0.0.0.0:80") == inet("[::]:80"));
    EXPECT_EQ(inet("[::1]:80"), inet("[0:0::1]:80"));
    EXPECT_EQ(SocketAddress{}, SocketAddress{});
}

// --- IP literals -------------------------------------------------------------------------------

TEST(NetAddress, ParsesIpLiteralsWithoutPort)
{
    std::string error;
    auto v4 = parseIpLiteral("239.1.2.3", error);
    ASSERT_TRUE(v4) << error;
    EXPECT_EQ(v4->family(), AF_INET);
    EXPECT_EQ(v4->port(), 0);
    EXPECT_TRUE(v4->isMulticast());
    EXPECT_EQ(v4->toString(), "239.1.2.3:0");

    auto v6 = parseIpLiteral("ff02::1", error);
    ASSERT_TRUE(v6) << error;
    EXPECT_EQ(v6->family(), AF_INET6);
    EXPECT_TRUE(v6->isMulticast());

    auto bracketed = parseIpLiteral("[ff02::1]", error);
    ASSERT_TRUE(bracketed) << error;
    EXPECT_EQ(*bracketed, *v6);
}

TEST(NetAddress, ParsesIpLiteralWithScope)
{
    unsigned loIndex = if_nametoindex("lo");
    if (loIndex == 0)
        GTEST_SKIP() << "no loopback interface 'lo' in this environment";
    std::string error;
    auto addr = parseIpLiteral("ff02::1%lo", error);
    ASSERT_TRUE(addr) << error;
    EXPECT_EQ(asV6(*addr).sin6_scope_id, loIndex);
}

TEST(NetAddress, RejectsIpLiteralsThatAreNotAddresses)
{
    std::string error;
    EXPECT_FALSE(parseIpLiteral("", error));
    EXPECT_EQ(error, "empty IP address");
    EXPECT_FALSE(parseIpLiteral("localhost", error));
    EXPECT_EQ(error, "'localhost' is not an IP address");
    EXPECT_FALSE(parseIpLiteral("1.2.3.4:80", error));
    EXPECT_EQ(error, "'1.2.3.4:80' is not an IP address");
    EXPECT_FALSE(parseIpLiteral("[1.2.3.4]", error));
    EXPECT_EQ(error, "'[1.2.3.4]' is not an IP address");
}

// --- unix --------------------------------------------------------------------------------------

TEST(NetAddress, ParsesUnixPath)
{
    std::string error;
    auto addr = parseUnixAddress("/run/sockbridge.sock", error);
    ASSERT_TRUE(addr) << error;
    EXPECT_EQ(addr->family(), AF_UNIX);
    EXPECT_EQ(addr->length, kSunPathOffset + std::strlen("/run/sockbridge.sock") + 1);
    EXPECT_STREQ(asUnix(*addr).sun_path, "/run/sockbridge.sock");
    EXPECT_EQ(addr->port(), 0);
    EXPECT_FALSE(addr->isMulticast());
    EXPECT_EQ(addr->toString(), "/run/sockbridge.sock");
}

TEST(NetAddress, AbstractUnixNameHasLeadingNulAndNoTrailingNul)
{
    std::string error;
    auto addr = parseUnixAddress("@sockbridge", error);
    ASSERT_TRUE(addr) << error;
    const sockaddr_un &sun = asUnix(*addr);
    EXPECT_EQ(sun.sun_family, AF_UNIX);
    EXPECT_EQ(sun.sun_path[0], '\0');
    EXPECT_EQ(std::string(sun.sun_path + 1, 10), "sockbridge");
    EXPECT_EQ(addr->length, kSunPathOffset + 1 + 10);
    EXPECT_EQ(addr->toString(), "@sockbridge");

    auto again = parseUnixAddress(addr->toString(), error);
    ASSERT_TRUE(again) << error;
    EXPECT_EQ(*again, *addr);
}

TEST(NetAddress, AbstractAndPathWithSameNameDiffer)
{
    std::string error;
    auto abstract = parseUnixAddress("@x", error);
    auto path = parseUnixAddress("x", error);
    auto longer = parseUnixAddress("@xy", error);
    ASSERT_TRUE(abstract && path && longer);
    EXPECT_FALSE(*abstract == *path);
    EXPECT_FALSE(*abstract == *longer);
    EXPECT_EQ(path->toString(), "x");
}

TEST(NetAddress, AcceptsUnixPathOf107BytesAndRejects108)
{
    std::string longest = "/" + std::string(106, 'a');
    std::string error;
    auto addr = parseUnixAddress(longest, error);
    ASSERT_TRUE(addr) << error;
    EXPECT_EQ(addr->length, sizeof(sockaddr_un));
    EXPECT_EQ(addr->toString(), longest);

    EXPECT_EQ(unixError(longest + "a"),
              "unix socket path is 108 bytes, longer than the 107 allowed");
    EXPECT_EQ(unixError("/" + std::string(199, 'a')),
              "unix socket path is 200 bytes, longer than the 107 allowed");
}

TEST(NetAddress, AcceptsAbstractNameOf107BytesAndRejects108)
{
    std::string name = std::string(107, 'n');
    std::string error;
    auto addr = parseUnixAddress("@" + name, error);
    ASSERT_TRUE(addr) << error;
    EXPECT_EQ(addr->length, sizeof(sockaddr_un));
    EXPECT_EQ(addr->toString(), "@" + name);

    EXPECT_EQ(unixError("@" + name + "n"),
              "abstract unix socket name is 108 bytes, longer than the 107 allowed");
}

TEST(NetAddress, RejectsEmptyUnixAddresses)
{
    EXPECT_EQ(unixError(""), "empty unix socket path");
    EXPECT_EQ(unixError("@"), "abstract unix socket name is empty (expected @NAME)");
    EXPECT_EQ(unixError(std::string_view("/a\0b", 4)), "unix socket path contains a NUL byte");
}

TEST(NetAddress, UnnamedUnixAddressPrintsAsEmpty)
{
    SocketAddress addr;
    addr.storage.ss_family = AF_UNIX;
    addr.length = sizeof(sa_family_t);
    EXPECT_EQ(addr.toString(), "");
    EXPECT_EQ(SocketAddress{}.toString(), "");
}

// --- sizes -------------------------------------------------------------------------------------

TEST(ParseSize, PlainNumberIsBytes)
{
    EXPECT_EQ(size("4096"), 4096u);
    EXPECT_EQ(size("0"), 0u);
    EXPECT_EQ(size("512B"), 512u);
    EXPECT_EQ(size("18446744073709551615"), std::numeric_limits<uint64_t>::max());
}

TEST(ParseSize, BinaryUnits)
{
    EXPECT_EQ(size("64KiB"), 65536u);
    EXPECT_EQ(size("10MiB"), 10u * 1024 * 1024);
    EXPECT_EQ(size("1GiB"), 1024u * 1024 * 1024);
    EXPECT_EQ(size("2TiB"), 2ull << 40);
}

TEST(ParseSize, DecimalUnits)
{
    EXPECT_EQ(size("1KB"), 1000u);
    EXPECT_EQ(size("10MB"), 10'000'000u);
    EXPECT_EQ(size("3GB"), 3'000'000'000u);
    EXPECT_EQ(size("1kB"), 1000u);
}

TEST(ParseSize, SingleLetterUnitsAreBinary)
{
    EXPECT_EQ(size("2K"), 2048u);
    EXPECT_EQ(size("3M"), 3u << 20);
    EXPECT_EQ(size("1G"), 1u << 30);
}

TEST(ParseSize, AcceptsFractionsThatMakeWholeBytesAndSpaces)
{
    EXPECT_EQ(size("1.5KiB"), 1536u);
    EXPECT_EQ(size("0.5MB"), 500'000u);
    EXPECT_EQ(size("10 MiB"), 10u << 20);
    EXPECT_EQ(size(" 7 "), 7u);
    EXPECT_EQ(sizeError("0.1KiB"), "size '0.1KiB' is not a whole number of bytes");
    EXPECT_EQ(sizeError("1.5"), "size '1.5' is not a whole number of bytes");
}

// Nine fraction digits times a unit of 2^40 or 10^12 goes past 64 bits on the way: still exact.
TEST(ParseSize, NineFractionDigitsOfTheLargestUnitsAreExact)
{
    EXPECT_EQ(size("1.000000001TB"), 1'000'000'001'000u);
    EXPECT_EQ(size("0.998046875TiB"), 1'097'364'144'128u);  // 511/512 of 2^40
    EXPECT_EQ(sizeError("0.999999999TiB"), "size '0.999999999TiB' is not a whole number of bytes");
}

TEST(ParseSize, RejectsNegativeEmptyAndGarbage)
{
    EXPECT_EQ(sizeError("-1"), "size '-1' is negative");
    EXPECT_EQ(sizeError("-5MiB"), "size '-5MiB' is negative");
    EXPECT_EQ(sizeError(""), "empty size (expected a number of bytes such as 4096 or 64KiB)");
    EXPECT_EQ(sizeError("   "), "empty size (expected a number of bytes such as 4096 or 64KiB)");
    const std::string invalidTail = " (expected a number with an optional unit B, KiB, MiB, GiB, "
                                    "TiB, KB, MB, GB or TB, such as 64KiB)";
    EXPECT_EQ(sizeError("abc"), "invalid size 'abc'" + invalidTail);
    EXPECT_EQ(sizeError("KiB"), "invalid size 'KiB'" + invalidTail);
    EXPECT_EQ(sizeError("1.KiB"), "invalid size '1.KiB'" + invalidTail);
    EXPECT_EQ(sizeError(".5KiB"), "invalid size '.5KiB'" + invalidTail);
}

TEST(ParseSize, RejectsUnknownUnits)
{
    const std::string useTail = " (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)";
    EXPECT_EQ(sizeError("10XB"), "unknown size unit 'XB' in '10XB'" + useTail);
    EXPECT_EQ(sizeError("1PiB"), "unknown size unit 'PiB' in '1PiB'" + useTail);
    EXPECT_EQ(sizeError("10 MiB extra"),
              "unknown size unit 'MiB extra' in '10 MiB extra'" + useTail);
}

TEST(ParseSize, RejectsOverflow)
{
    EXPECT_EQ(sizeError("18446744073709551616"), "size '18446744073709551616' is too large");
    EXPECT_EQ(sizeError("16777216TiB"), "size '16777216TiB' is too large");
    EXPECT_EQ(sizeError("17179869184GiB"), "size '17179869184GiB' is too large");
    EXPECT_EQ(sizeError("1.0000000001KiB"),
              "size '1.0000000001KiB' has too many digits after the decimal point");
}

// --- durations ---------------------------------------------------------------------------------

TEST(ParseDuration, EveryUnit)
{
    EXPECT_EQ(duration("10ns"), 10ns);
    EXPECT_EQ(duration("100us"), 100us);
    EXPECT_EQ(duration("250ms"), 250ms);
    EXPECT_EQ(duration("5s"), 5s);
    EXPECT_EQ(duration("2m"), 2min);
    EXPECT_EQ(duration("1h"), 1h);
    EXPECT_EQ(duration("3\u00b5s"), 3us);
    EXPECT_EQ(duration("5min"), 5min);
}

TEST(ParseDuration, BareNumberIsSeconds)
{
    EXPECT_EQ(duration("30"), 30s);
    EXPECT_EQ(duration("0"), 0ns);
    EXPECT_EQ(duration("0.5"), 500ms);
}

TEST(ParseDuration, Fractions)
{
    EXPECT_EQ(duration("1.5s"), 1500ms);
    EXPECT_EQ(duration("0.25h"), 15min);
    EXPECT_EQ(duration("0.000000001s"), 1ns);
    EXPECT_EQ(duration("2.5ms"), 2500us);
    EXPECT_EQ(duration("1.9ns"), 1ns);  // below a nanosecond is dropped
    EXPECT_EQ(duration("0.123456789h"), 444'444'440'400ns);
    EXPECT_EQ(duration("5 s"), 5s);
}

TEST(ParseDuration, LargestDurationFits)
{
    EXPECT_EQ(duration("9223372036854775807ns").count(), std::numeric_limits<int64_t>::max());
    EXPECT_EQ(duration("9223372036s"), 9223372036s);
    EXPECT_EQ(durationError("9223372037s"), "duration '9223372037s' is too large");
    EXPECT_EQ(durationError("1000000000h"), "duration '1000000000h' is too large");
    EXPECT_EQ(durationError("99999999999999999999ns"),
              "duration '99999999999999999999ns' is too large");
}

TEST(ParseDuration, RejectsNegativeEmptyAndGarbage)
{
    EXPECT_EQ(durationError("-1s"), "duration '-1s' is negative");
    EXPECT_EQ(durationError(""),
              "empty duration (expected a number with a unit such as 250ms or 5s)");
    const std::string invalidTail =
        " (expected a number with a unit ns, us, ms, s, m or h, such as 250ms)";
    EXPECT_EQ(durationError("abc"), "invalid duration 'abc'" + invalidTail);
    EXPECT_EQ(durationError("s"), "invalid duration 's'" + invalidTail);
    EXPECT_EQ(durationError("1.s"), "invalid duration '1.s'" + invalidTail);
    EXPECT_EQ(durationError("1.0000000001s"),
              "duration '1.0000000001s' has too many digits after the decimal point");
}

TEST(ParseDuration, RejectsUnknownUnits)
{
    const std::string useTail = " (use ns, us, ms, s, m or h)";
    EXPECT_EQ(durationError("5x"), "unknown duration unit 'x' in '5x'" + useTail);
    EXPECT_EQ(durationError("5S"), "unknown duration unit 'S' in '5S'" + useTail);
    EXPECT_EQ(durationError("1d"), "unknown duration unit 'd' in '1d'" + useTail);
    EXPECT_EQ(durationError("1h30m"), "unknown duration unit 'h30m' in '1h30m'" + useTail);
}
