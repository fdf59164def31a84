// SPDX-License-Identifier: MIT
// The packet listener's TPACKET_V3 ring: the geometry derived from snaplen, size and routes, what
// the user sets kept as set, and bad `ring:` values refused at their positions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "config_test_helpers.h"
#include "listeners/packet_ring.h"

using namespace sockbridge;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

constexpr uint32_t kPage = 4096;

RingGeometry geometry(uint32_t blockSize, uint32_t blocks, uint32_t frameSize, std::chrono::milliseconds timeout)
{
    RingGeometry ring;
    ring.blockSize = blockSize;
    ring.blocks = blocks;
    ring.frameSize = frameSize;
    ring.timeout = timeout;
    return ring;
}

// The listener's identity after the routes are known: "capturing, ring 8MiB: ...".
std::string derivedOf(const std::string &yaml, const std::string &listener)
{
    Config config = parseConfig(yaml, "test.yaml");
    return config.findListener(listener)->derived;
}

}  // namespace

TEST(PacketRing, DefaultBlockHoldsOnePacketOfTheSnaplenOrTheLargestPacket)
{
    EXPECT_EQ(defaultRingBlockSize(2048, kPage), 32u << 10);
    EXPECT_EQ(defaultRingBlockSize(64, kPage), 32u << 10);
    // 32 KiB of packet no longer fits a 32 KiB block with its headers.
    EXPECT_EQ(defaultRingBlockSize(32768, kPage), 64u << 10);
    // tcpdump's default snaplen: a block for a 64 KiB GSO packet, not one of 256 KiB.
    EXPECT_EQ(defaultRingBlockSize(262144, kPage), 128u << 10);
    EXPECT_EQ(defaultRingBlockSize(2048, 65536), 64u << 10);
}

TEST(PacketRing, DerivesManySmallBlocksOfEightMebibytesWithATimeoutByRoutes)
{
    // What the capture benchmark runs: 256 blocks that fill in ~8 ms at 20k small packets/s, so
    // the whole 8 MiB holds traffic while the daemon stalls (the old 8 x 1 MiB with a 10 ms
    // timeout held ~80 ms of it).
    EXPECT_EQ(deriveRingGeometry({}, 2048, kPage, false), geometry(32u << 10, 256, 2048, 200ms));
    EXPECT_EQ(deriveRingGeometry({}, 2048, kPage, true), geometry(32u << 10, 256, 2048, 10ms));
    EXPECT_EQ(deriveRingGeometry({}, 262144, kPage, false), geometry(128u << 10, 64, 2048, 200ms));
    EXPECT_EQ(deriveRingGeometry({}, 2048, kPage, false).bytes(), kDefaultRingBytes);
}

TEST(PacketRing, KeepsWhatTheUserSet)
{
    RingSettings old;
    old.blockSize = 1u << 20;
    old.blocks = 8;
    old.timeout = 10ms;
    EXPECT_EQ(deriveRingGeometry(old, 2048, kPage, false), geometry(1u << 20, 8, 2048, 10ms));

    RingSettings sized;
    sized.size = 1u << 20;
    EXPECT_EQ(deriveRingGeometry(sized, 2048, kPage, true), geometry(32u << 10, 32, 2048, 10ms));
    sized.blockSize = 256u << 10;
    sized.timeout = 1000ms;
    EXPECT_EQ(deriveRingGeometry(sized, 2048, kPage, true), geometry(256u << 10, 4, 2048, 1000ms));

    RingSettings frames;
    frames.frameSize = 40960;  // larger than the default block: the block grows to hold a frame
    EXPECT_EQ(deriveRingGeometry(frames, 2048, kPage, false), geometry(40960, 204, 40960, 200ms));
}

TEST(PacketRing, DescribesTheGeometry)
{
    EXPECT_EQ(geometry(32u << 10, 256, 2048, 200ms).describe(), "8MiB: 256 blocks of 32KiB, timeout 200ms");
    EXPECT_EQ(geometry(12288, 3, 2048, 10ms).describe(), "36KiB: 3 blocks of 12KiB, timeout 10ms");
}

TEST(PacketRing, TimeoutFollowsTheRoutesAndJoinsTheListenersIdentity)
{
    const std::string listeners = R"(listeners:
  cap: {type: packet, interface: lo, snaplen: 2048}
  set: {type: packet, interface: lo, snaplen: 2048, ring: {size: 1MiB, timeout: 50ms}}
  idle: {type: packet, interface: lo}
  off: {type: packet, interface: lo, ring: false}
  out: {type: udp, peer: 127.0.0.1:9000}
)";
    const std::string toLogs = listeners + R"(routes:
  - {from: cap, log: {path: /tmp/cap.pcap, format: pcap}}
  - {from: set, log: {path: /tmp/set.pcap, format: pcap}}
  - {from: off, log: {path: /tmp/off.pcap, format: pcap}}
)";
    EXPECT_EQ(derivedOf(toLogs, "cap"), "capturing, ring 8MiB: 256 blocks of 32KiB, timeout 200ms");
    EXPECT_EQ(derivedOf(toLogs, "set"), "capturing, ring 1MiB: 32 blocks of 32KiB, timeout 50ms");
    EXPECT_EQ(derivedOf(toLogs, "idle"), "not capturing");
    EXPECT_EQ(derivedOf(toLogs, "off"), "capturing");
    const std::string live = toLogs + R"(  - {from: cap, to: out}
  - {from: set, to: out}
)";
    EXPECT_EQ(derivedOf(live, "cap"), "capturing, ring 8MiB: 256 blocks of 32KiB, timeout 10ms");
    EXPECT_EQ(derivedOf(live, "set"), "capturing, ring 1MiB: 32 blocks of 32KiB, timeout 50ms");
}

TEST(PacketRing, AcceptsTheOldAndNewKeys)
{
    EXPECT_THAT(configErrorsOf(R"(listeners:
  a: {type: packet, interface: lo, ring: {block_size: 1MiB, blocks: 8, frame_size: 2048, timeout: 10ms}}
  b: {type: packet, interface: lo, snaplen: 65535, ring: {size: 16MiB, block_size: 256KiB, timeout: 1s}}
  c: {type: packet, interface: lo, snaplen: 1500, ring: {blocks: 1024}}
  d: {type: packet, interface: lo, ring: true}
)",
                               "test.yaml"),
                IsEmpty());
}

TEST(PacketRing, RefusesBadRingValuesAtTheirPositions)
{
    EXPECT_THAT(configErrorsOf(R"(listeners:
  a: {type: packet, interface: lo, ring: {size: 1MiB, blocks: 4}}
  b: {type: packet, interface: lo, snaplen: 2048, ring: {size: 16KiB}}
  c: {type: packet, interface: lo, ring: {block_size: 1GiB, blocks: 4}}
  d: {type: packet, interface: lo, snaplen: 2048, ring: {block_size: 8KiB, frame_size: 16KiB}}
  e: {type: packet, interface: lo, ring: {timeout: 0ms}}
  f: {type: packet, interface: lo, ring: {block_size: 64KiB}}
  g: {type: packet, interface: lo, ring: [1, 2]}
)",
                               "test.yaml"),
                ElementsAre("test.yaml:2:49: give the ring's 'size' or its number of 'blocks', not both",
                            "test.yaml:3:64: 'size' must be between one block (32768 bytes) and 2GiB",
                            "test.yaml:4:69: 4 blocks of 1073741824 bytes are more than 2GiB",
                            "test.yaml:5:88: 'frame_size' must be a multiple of 16 between 80 and 'block_size'",
                            "test.yaml:6:52: 'timeout' must be between 1ms and 60s",
                            "test.yaml:7:42: 'snaplen' 262144 does not fit a ring block of 65536 bytes: raise "
                            "'ring.block_size' or lower 'snaplen'",
                            "test.yaml:8:42: 'ring' must be true, false or a map {size, block_size, blocks, "
                            "frame_size, timeout}"));
}
