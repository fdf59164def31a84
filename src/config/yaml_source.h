// SPDX-License-Identifier: MIT
// Positioned config errors and OptionReader, which reads one YAML map keeping line and column.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/allow_list.h"
#include "core/net_address.h"

namespace sockbridge {

struct ConfigError {
    std::string file;
    int line = 0;    // 1-based
    int column = 0;  // 1-based
    std::string message;

    std::string toString() const;  // "FILE:LINE:COL: message"
};

// Every error found in one config, collected before any is reported.
class ConfigErrors {
public:
    explicit ConfigErrors(std::string file) : file_(std::move(file)) {}
    void add(const YAML::Mark &mark, std::string message);
    void add(const YAML::Node &at, std::string message) { add(at.Mark(), std::move(message)); }
    bool empty() const { return errors_.empty(); }
    const std::vector<ConfigError> &list() const { return errors_; }
    const std::string &file() const { return file_; }

private:
    std::string file_;
    std::vector<ConfigError> errors_;
};

// Thrown by loadConfig() with every error of the file, sorted by position.
class ConfigException : public std::runtime_error {
public:
    explicit ConfigException(std::vector<ConfigError> errors);
    const std::vector<ConfigError> &errors() const { return errors_; }

private:
    std::vector<ConfigError> errors_;
};

// One documented config key: the reference docs and the unknown-key check both read these.
struct KeySpec {
    std::string_view name;
    std::string_view type;
    std::string_view defaultValue;
    std::string_view description;
};

// Reads typed values out of one YAML map. Every getter reports a positioned error and returns
// nullopt when the value is there but wrong; a missing key is nullopt without an error.
// reportUnknownKeys() then names every key no getter asked for, with a did-you-mean.
class OptionReader {
public:
    OptionReader(const YAML::Node &map, ConfigErrors &errors, std::string context);

    bool has(std::string_view key) const;
    YAML::Node node(std::string_view key);  // marks the key used; an undefined node if absent
    YAML::Mark markOf(std::string_view key) const;  // the value's position, or the map's
    const YAML::Node &map() const { return map_; }
    ConfigErrors &errors() { return errors_; }
    void error(std::string_view key, std::string message);

    std::optional<std::string> string(std::string_view key);
    std::optional<bool> boolean(std::string_view key);
    std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max);
    std::optional<uint64_t> size(std::string_view key);
    // A socket buffer size (receive_buffer, send_buffer): a size from 4KiB to 1GiB.
    std::optional<int> bufferSize(std::string_view key);
    std::optional<std::chrono::nanoseconds> duration(std::string_view key);
    std::optional<SocketAddress> inetAddress(std::string_view key);
    std::optional<SocketAddress> unixAddress(std::string_view key);
    // A list of CIDR blocks (`allow: [10.0.0.0/8, "::1/128"]`); each bad item is an error at its
    // own position. An empty list is an error too: it would refuse everyone.
    std::optional<AllowList> allowList(std::string_view key);
    // One of `choices`; anything else is an error listing them.
    std::optional<std::string> choice(std::string_view key, std::span<const std::string_view> choices);

    void reportUnknownKeys(std::span<const std::string_view> known);

private:
    std::optional<std::string> scalar(std::string_view key, std::string_view what);

    YAML::Node map_;
    ConfigErrors &errors_;
    std::string context_;
};

}  // namespace sockbridge
