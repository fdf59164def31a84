// SPDX-License-Identifier: MIT
// placeholder until the unix kind lands
#include "listeners/unix_listener.h"

namespace sockbridge {
std::span<const KeySpec> unixListenerKeys() { return {}; }
std::unique_ptr<ListenerSpec> parseUnixListener(OptionReader &reader)
{
    reader.errors().add(reader.map(), "not built yet");
    return nullptr;
}
}  // namespace sockbridge
