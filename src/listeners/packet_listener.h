// SPDX-License-Identifier: MIT
// PacketListener: `type: packet` — AF_PACKET capture with a kernel BPF filter, and injection.
#pragma once

#include <linux/filter.h>
#include <linux/if_packet.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> packetListenerKeys();
std::unique_ptr<ListenerSpec> parsePacketListener(OptionReader &reader);

// Compiles `expression` (tcpdump's syntax) with libpcap for a link type (a DLT_ value, as
// pcap_open_dead takes) into a classic BPF program for SO_ATTACH_FILTER; "" accepts every
// packet. The program's accept value is `snaplen`, so the kernel also cuts packets to it.
// nullopt with `error` set to libpcap's message when the expression is bad.
std::optional<std::vector<sock_filter>> compilePacketFilter(const std::string &expression, int dlt,
                                                            uint32_t snaplen, std::string &error);
// The same, compiled on a live libpcap handle for `interface` as tcpdump does, so that 'vlan',
// 'inbound' and 'outbound' use the kernel's ancillary data (a tag the driver took off the frame
// is not in the bytes the filter reads). Needs CAP_NET_RAW; nullopt when libpcap cannot open it.
std::optional<std::vector<sock_filter>> compileLivePacketFilter(const std::string &expression,
                                                                const std::string &interface, uint32_t snaplen,
                                                                std::string &error);

// Completes the TCP or UDP checksum of an IPv4/IPv6 packet at `l3` whose checksum the sender
// left to offload (TP_STATUS_CSUMNOTREADY): without it, an injected copy or a pcap shows a bad
// checksum. `ethertype` is the packet's (0x0800, 0x86dd). False when the packet is not TCP/UDP
// or not whole; it is left as it was.
bool completeChecksum(std::span<uint8_t> l3, uint16_t ethertype);

// Splits an Ethernet frame holding one TCP packet larger than `mtu` (a GSO packet as a packet
// socket sees it on the sending host) into segments that fit, as the kernel's GSO would: headers
// copied, sequence numbers, lengths, IPv4 ids and checksums fixed, FIN/PSH on the last only.
// False when the frame is not TCP over IPv4/IPv6 (then it cannot be split).
bool segmentTcpFrame(std::span<const uint8_t> frame, size_t mtu, std::vector<std::vector<uint8_t>> &out);

// Appends the 20-byte LINKTYPE_LINUX_SLL2 header for a packet a SOCK_DGRAM packet socket
// received from `from` (https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html).
void appendSll2Header(const sockaddr_ll &from, std::vector<uint8_t> &out);

}  // namespace sockbridge
