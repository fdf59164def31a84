// SPDX-License-Identifier: MIT
// Fuzz target: packet-jsonl decodes captured headers (untrusted packets): one valid JSON line each.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    // The first byte picks the link type the packet was captured with.
    constexpr uint16_t kLinkTypes[] = {kLinkTypeEthernet, kLinkTypeRaw, kLinkTypeLinuxSll2, 0};
    Message packet{.kind = MessageKind::Packet, .data = Payload(data + 1, data + size)};
    packet.linkType = kLinkTypes[data[0] % 4];
    packet.source = "eth0";

    auto encoder = findFormat("packet-jsonl")->makeEncoder(FormatOptions{});
    std::vector<uint8_t> line;
    FUZZ_CHECK(encoder->encode(packet, line));
    FUZZ_CHECK(!line.empty() && line.back() == '\n');
    FUZZ_CHECK(std::count(line.begin(), line.end(), '\n') == 1);
    FUZZ_CHECK(nlohmann::json::accept(line.begin(), line.end() - 1));
    auto summary = nlohmann::json::parse(line.begin(), line.end() - 1);
    FUZZ_CHECK(summary.at("caplen") == size - 1);
    return 0;
}
