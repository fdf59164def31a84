// SPDX-License-Identifier: MIT
// Unit tests for CIDR parsing and allow-list matching (IPv4, IPv6, IPv4-mapped IPv6).
#include "core/allow_list.h"

#include <gtest/gtest.h>

using namespace sockbridge;

namespace {

Cidr cidr(std::string_view text)
{
    std::string error;
    auto block = parseCidr(text, error);
    EXPECT_TRUE(block.has_value()) << text << ": " << error;
    return block.value_or(Cidr{});
}

std::string cidrError(std::string_view text)
{
    std::string error;
    EXPECT_FALSE(parseCidr(text, error).has_value()) << text;
    return error;
}

SocketAddress peer(std::string_view text)
{
    std::string error;
    auto address = parseInetAddress(text, error);
    EXPECT_TRUE(address.has_value()) << text << ": " << error;
    return address.value_or(SocketAddress{});
}

}  // namespace

TEST(AllowList, ParsesBlocksAndSingleHosts)
{
    EXPECT_EQ(cidr("10.1.0.0/16").toString(), "10.1.0.0/16");
    EXPECT_EQ(cidr("127.0.0.2").toString(), "127.0.0.2/32");
    EXPECT_EQ(cidr("::1/128").toString(), "::1/128");
    EXPECT_EQ(cidr("[fd00::]/8").toString(), "fd00::/8");
    EXPECT_EQ(cidr("0.0.0.0/0").toString(), "0.0.0.0/0");
}

TEST(AllowList, RefusesBadBlocksSayingWhy)
{
    EXPECT_EQ(cidrError("10.1.0.0/33"), "prefix length '33' must be a number from 0 to 32");
    EXPECT_EQ(cidrError("::/129"), "prefix length '129' must be a number from 0 to 128");
    EXPECT_EQ(cidrError("10.1.0.0/"), "prefix length '' must be a number from 0 to 32");
    EXPECT_EQ(cidrError("10.1.2.3/16"), "'10.1.2.3/16' has bits set after the first 16 (a network address was meant?)");
    EXPECT_EQ(cidrError("10.1/16"),
              "'10.1' is not an IPv4 or IPv6 address (expected ADDRESS/PREFIX, as 10.0.0.0/8 or fd00::/8)");
    EXPECT_EQ(cidrError("localhost"),
              "'localhost' is not an IPv4 or IPv6 address (expected ADDRESS/PREFIX, as 10.0.0.0/8 or fd00::/8)");
}

TEST(AllowList, AdmitsOnlyPeersInItsBlocks)
{
    AllowList list({cidr("127.0.0.0/8"), cidr("::1/128"), cidr("10.1.0.0/16"), cidr("192.168.1.128/25")});
    EXPECT_TRUE(list.admits(peer("127.0.0.2:4000")));
    EXPECT_TRUE(list.admits(peer("10.1.255.3:4000")));
    EXPECT_FALSE(list.admits(peer("10.2.0.1:4000")));
    EXPECT_TRUE(list.admits(peer("192.168.1.200:1")));
    EXPECT_FALSE(list.admits(peer("192.168.1.127:1")));
    EXPECT_TRUE(list.admits(peer("[::1]:4000")));
    EXPECT_FALSE(list.admits(peer("[::2]:4000")));
}

TEST(AllowList, MatchesIpv4MappedPeersAgainstIpv4Blocks)
{
    AllowList list({cidr("10.1.0.0/16")});
    EXPECT_TRUE(list.admits(peer("[::ffff:10.1.2.3]:4000")));
    EXPECT_FALSE(list.admits(peer("[::ffff:10.9.2.3]:4000")));
    AllowList v6only({cidr("::ffff:0:0/96")});
    EXPECT_FALSE(v6only.admits(peer("10.1.2.3:1")));  // mapped peers count as IPv4, never as IPv6
}

TEST(AllowList, EmptyListAdmitsEveryoneAndUnixPeersNeverMatch)
{
    EXPECT_TRUE(AllowList().admits(peer("203.0.113.9:1")));
    std::string error;
    auto unixPeer = parseUnixAddress("/run/x.sock", error);
    ASSERT_TRUE(unixPeer);
    EXPECT_FALSE(AllowList({cidr("0.0.0.0/0")}).admits(*unixPeer));
}

TEST(AllowList, TellsLoopbackFromReachableAddresses)
{
    EXPECT_TRUE(isLoopback(peer("127.0.0.1:7000")));
    EXPECT_TRUE(isLoopback(peer("127.3.0.1:7000")));
    EXPECT_TRUE(isLoopback(peer("[::1]:7000")));
    EXPECT_FALSE(isLoopback(peer("0.0.0.0:7000")));
    EXPECT_FALSE(isLoopback(peer("[::]:7000")));
    EXPECT_FALSE(isLoopback(peer("10.0.0.1:7000")));
}
