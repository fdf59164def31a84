// SPDX-License-Identifier: MIT
// PacketRing: how much a stalled daemon can miss without a kernel drop is the ring's memory only
// if blocks fill before their timeout retires them; small blocks make that so at modest rates.
#include "listeners/packet_ring.h"

#include <linux/if_packet.h>

#include <fmt/core.h>

#include <algorithm>

namespace sockbridge {

namespace {

constexpr uint32_t kMinimumBlock = 32u << 10;
constexpr uint32_t kDefaultFrameSize = 2048;
constexpr uint32_t kBlockHeader = 48;  // tpacket_block_desc, aligned

// "8MiB", "32KiB", "12288B": the largest unit that divides the value.
std::string byteSize(uint64_t bytes)
{
    if (bytes && bytes % (1u << 20) == 0) return fmt::format("{}MiB", bytes >> 20);
    if (bytes && bytes % (1u << 10) == 0) return fmt::format("{}KiB", bytes >> 10);
    return fmt::format("{}B", bytes);
}

}  // namespace

uint32_t ringBlockOverhead() { return kBlockHeader + TPACKET_ALIGN(TPACKET3_HDRLEN) + 16; }

uint32_t defaultRingBlockSize(uint32_t snaplen, uint32_t pageSize)
{
    const uint64_t needed = uint64_t(std::min(snaplen, kLargestPacket)) + ringBlockOverhead();
    uint64_t block = std::max(kMinimumBlock, pageSize);
    while (block < needed) block <<= 1;
    return uint32_t(block);
}

RingGeometry deriveRingGeometry(const RingSettings &settings, uint32_t snaplen, uint32_t pageSize, bool live)
{
    RingGeometry ring;
    ring.frameSize = settings.frameSize.value_or(kDefaultFrameSize);
    ring.blockSize = settings.blockSize.value_or(std::max(defaultRingBlockSize(snaplen, pageSize), ring.frameSize));
    if (!settings.blockSize && ring.blockSize % pageSize) ring.blockSize += pageSize - ring.blockSize % pageSize;
    if (!settings.frameSize) ring.frameSize = std::min(ring.frameSize, ring.blockSize);
    ring.blocks = settings.blocks.value_or(
        uint32_t(std::max<uint64_t>(1, settings.size.value_or(kDefaultRingBytes) / ring.blockSize)));
    ring.timeout = settings.timeout.value_or(live ? kLiveRingTimeout : kLogRingTimeout);
    return ring;
}

std::string RingGeometry::describe() const
{
    return fmt::format("{}: {} blocks of {}, timeout {}ms", byteSize(bytes()), blocks, byteSize(blockSize),
                       timeout.count());
}

}  // namespace sockbridge
