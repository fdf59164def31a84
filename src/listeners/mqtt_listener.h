// SPDX-License-Identifier: MIT
// MqttListener: `type: mqtt`, a client of an MQTT broker (libmosquitto) with an on-disk spool.
#pragma once

#include <memory>
#include <span>

#include "config/config.h"

namespace sockbridge {

std::span<const KeySpec> mqttListenerKeys();
std::unique_ptr<ListenerSpec> parseMqttListener(OptionReader &reader);

}  // namespace sockbridge
