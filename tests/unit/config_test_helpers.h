// SPDX-License-Identifier: MIT
// Config test helpers: the "FILE:LINE:COL: message" lines a config is refused with.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace sockbridge {

// Every error of `yaml` as ConfigError::toString() gives it; empty when the config is accepted.
inline std::vector<std::string> configErrorsOf(const std::string &yaml, const std::string &file)
{
    try {
        parseConfig(yaml, file);
    } catch (const ConfigException &e) {
        std::vector<std::string> lines;
        for (const auto &error : e.errors()) lines.push_back(error.toString());
        return lines;
    }
    return {};
}

}  // namespace sockbridge
