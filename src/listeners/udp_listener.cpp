// SPDX-License-Identifier: MIT
// placeholder until the udp kind lands
#include "listeners/udp_listener.h"

namespace sockbridge {
std::span<const KeySpec> udpListenerKeys() { return {}; }
std::unique_ptr<ListenerSpec> parseUdpListener(OptionReader &reader)
{
    reader.errors().add(reader.map(), "not built yet");
    return nullptr;
}
}  // namespace sockbridge
