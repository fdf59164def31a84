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

// Appends the 20-byte LINKTYPE_LINUX_SLL2 header for a packet a SOCK_DGRAM packet socket
// received from `from` (https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html).
void appendSll2Header(const sockaddr_ll &from, std::vector<uint8_t> &out);

}  // namespace sockbridge
