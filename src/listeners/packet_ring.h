// SPDX-License-Identifier: MIT
// PacketRing: the TPACKET_V3 receive ring's geometry, from what the user set and the defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sockbridge {

// What `ring:` set; what it leaves unset is derived by deriveRingGeometry().
struct RingSettings {
    std::optional<uint64_t> size;  // the ring's memory; exclusive with `blocks`
    std::optional<uint32_t> blockSize;
    std::optional<uint32_t> blocks;
    std::optional<uint32_t> frameSize;
    std::optional<std::chrono::milliseconds> timeout;
};

struct RingGeometry {
    uint32_t blockSize = 0;
    uint32_t blocks = 0;
    uint32_t frameSize = 0;
    // A block is handed over when it is full or this long after it was opened.
    std::chrono::milliseconds timeout{0};

    uint64_t bytes() const { return uint64_t(blockSize) * blocks; }
    // "8MiB: 256 blocks of 32KiB, timeout 200ms", for the listener's description.
    std::string describe() const;
    bool operator==(const RingGeometry &) const = default;
};

// Like tcpdump's -B 8192: the ring's memory unless `size` or `blocks` say otherwise.
inline constexpr uint64_t kDefaultRingBytes = 8u << 20;
// Block timeouts: short where routes take packets on to other listeners (a live bridge waits for
// its block), long where they only go to logs (a stalled daemon then finds full blocks, not
// blocks retired with a packet or two each).
inline constexpr std::chrono::milliseconds kLiveRingTimeout{10};
inline constexpr std::chrono::milliseconds kLogRingTimeout{200};
// Bytes of a block that are not packet data: the block header, one packet's TPACKET_V3 header,
// socket address and alignment.
uint32_t ringBlockOverhead();
// The largest packet Linux hands a packet socket (a GSO/GRO packet of 64 KiB with an Ethernet
// and a VLAN header; BIG TCP aside): a default block holds one of these whatever the snaplen.
inline constexpr uint32_t kLargestPacket = 65536 + 18;
// The default block: the smallest power of two of at least 32 KiB and a page that holds one
// packet of min(snaplen, kLargestPacket). Small blocks fill (and are handed over) before their
// timeout, so the whole ring is used when the daemon stalls.
uint32_t defaultRingBlockSize(uint32_t snaplen, uint32_t pageSize);
// Fills in what `settings` leaves unset: block size from the snaplen, blocks from the size (8 MiB
// by default), frame size 2048 (at most the block), timeout by `live` (routed to a listener).
// The settings are assumed valid (parseRing checks them).
RingGeometry deriveRingGeometry(const RingSettings &settings, uint32_t snaplen, uint32_t pageSize, bool live);

}  // namespace sockbridge
