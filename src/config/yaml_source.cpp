// SPDX-License-Identifier: MIT
// Positioned config errors and the typed OptionReader.
#include "config/yaml_source.h"

#include <fmt/core.h>

#include <algorithm>
#include <limits>

#include "config/did_you_mean.h"

namespace sockbridge {

std::string ConfigError::toString() const { return fmt::format("{}:{}:{}: {}", file, line, column, message); }

void ConfigErrors::add(const YAML::Mark &mark, std::string message)
{
    // yaml-cpp counts from 0; an undefined node's mark is -1.
    errors_.push_back({file_, std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1, std::move(message)});
}

namespace {
std::string joinErrors(const std::vector<ConfigError> &errors)
{
    std::string text;
    for (const auto &error : errors) text += error.toString() + "\n";
    return text;
}

const char *nodeTypeName(const YAML::Node &node)
{
    switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "empty";
    default: return "a scalar";
    }
}
}  // namespace

ConfigException::ConfigException(std::vector<ConfigError> errors)
    : std::runtime_error(joinErrors(errors)), errors_(std::move(errors))
{
    std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError &a, const ConfigError &b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
}

OptionReader::OptionReader(const YAML::Node &map, ConfigErrors &errors, std::string context)
    : map_(map), errors_(errors), context_(std::move(context))
{
}

bool OptionReader::has(std::string_view key) const { return map_.IsMap() && map_[std::string(key)].IsDefined(); }

YAML::Node OptionReader::node(std::string_view key)
{
    if (!map_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    return map_[std::string(key)];
}

YAML::Mark OptionReader::markOf(std::string_view key) const
{
    if (has(key)) return map_[std::string(key)].Mark();
    return map_.Mark();
}

void OptionReader::error(std::string_view key, std::string message) { errors_.add(markOf(key), std::move(message)); }

std::optional<std::string> OptionReader::scalar(std::string_view key, std::string_view what)
{
    YAML::Node value = node(key);
    if (!value.IsDefined()) return std::nullopt;
    if (!value.IsScalar()) {
        error(key, fmt::format("'{}' must be {}, not {}", key, what, nodeTypeName(value)));
        return std::nullopt;
    }
    return value.Scalar();
}

std::optional<std::string> OptionReader::string(std::string_view key)
{
    auto text = scalar(key, "a string");
    if (text && text->empty()) {
        error(key, fmt::format("'{}' must not be empty", key));
        return std::nullopt;
    }
    return text;
}

std::optional<bool> OptionReader::boolean(std::string_view key)
{
    auto text = scalar(key, "true or false");
    if (!text) return std::nullopt;
    if (*text == "true" || *text == "yes" || *text == "on") return true;
    if (*text == "false" || *text == "no" || *text == "off") return false;
    error(key, fmt::format("'{}' must be true or false, not '{}'", key, *text));
    return std::nullopt;
}

std::optional<int64_t> OptionReader::integer(std::string_view key, int64_t min, int64_t max)
{
    auto text = scalar(key, "a whole number");
    if (!text) return std::nullopt;
    size_t used = 0;
    int64_t value = 0;
    try {
        value = std::stoll(*text, &used, 0);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != text->size()) {
        error(key, fmt::format("'{}' must be a whole number, not '{}'", key, *text));
        return std::nullopt;
    }
    if (value < min || value > max) {
        error(key, fmt::format("'{}' is {}, outside {}..{}", key, value, min, max));
        return std::nullopt;
    }
    return value;
}

std::optional<uint64_t> OptionReader::size(std::string_view key)
{
    auto text = scalar(key, "a size");
    if (!text) return std::nullopt;
    std::string why;
    auto value = parseSize(*text, why);
    if (!value) error(key, fmt::format("bad size for '{}': {}", key, why));
    return value;
}

std::optional<int> OptionReader::bufferSize(std::string_view key)
{
    auto bytes = size(key);
    if (!bytes) return std::nullopt;
    if (*bytes < 4096 || *bytes > (1u << 30)) {
        error(key, fmt::format("'{}' must be between 4KiB and 1GiB", key));
        return std::nullopt;
    }
    return int(*bytes);
}

std::optional<std::chrono::nanoseconds> OptionReader::duration(std::string_view key)
{
    auto text = scalar(key, "a duration");
    if (!text) return std::nullopt;
    std::string why;
    auto value = parseDuration(*text, why);
    if (!value) error(key, fmt::format("bad duration for '{}': {}", key, why));
    return value;
}

std::optional<SocketAddress> OptionReader::inetAddress(std::string_view key)
{
    auto text = string(key);
    if (!text) return std::nullopt;
    std::string why;
    auto value = parseInetAddress(*text, why);
    if (!value) error(key, fmt::format("bad address '{}' for '{}': {}", *text, key, why));
    return value;
}

std::optional<SocketAddress> OptionReader::unixAddress(std::string_view key)
{
    auto text = string(key);
    if (!text) return std::nullopt;
    std::string why;
    auto value = parseUnixAddress(*text, why);
    if (!value) error(key, fmt::format("bad unix socket address '{}' for '{}': {}", *text, key, why));
    return value;
}

std::optional<AllowList> OptionReader::allowList(std::string_view key)
{
    YAML::Node value = node(key);
    if (!value.IsDefined()) return std::nullopt;
    std::vector<YAML::Node> items;
    if (value.IsScalar() && !value.Scalar().empty()) items.push_back(value);  // one block alone
    if (value.IsSequence())
        for (const YAML::Node &item : value) items.push_back(item);
    if (items.empty()) {
        error(key, fmt::format("'{}' must be a list of CIDR blocks, as [127.0.0.0/8, \"::1/128\"]", key));
        return std::nullopt;
    }
    std::vector<Cidr> blocks;
    bool ok = true;
    for (const YAML::Node &item : items) {
        std::string why;
        std::optional<Cidr> block;
        if (!item.IsScalar())
            why = fmt::format("an item of '{}' must be a CIDR block, not {}", key, nodeTypeName(item));
        else if (!(block = parseCidr(item.Scalar(), why)))
            why = fmt::format("bad CIDR block '{}' in '{}': {}", item.Scalar(), key, why);
        if (!block) {
            errors_.add(item.Mark(), why);
            ok = false;
            continue;
        }
        blocks.push_back(*block);
    }
    if (!ok) return std::nullopt;
    return AllowList(std::move(blocks));
}

std::optional<std::string> OptionReader::choice(std::string_view key, std::span<const std::string_view> choices)
{
    auto text = string(key);
    if (!text) return std::nullopt;
    if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return text;
    std::string list;
    for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    std::string hint = didYouMean(*text, choices);
    error(key, fmt::format("'{}' must be one of {}, not '{}'{}", key, list, *text,
                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    return std::nullopt;
}

void OptionReader::reportUnknownKeys(std::span<const std::string_view> known)
{
    if (!map_.IsMap()) return;
    for (auto it = map_.begin(); it != map_.end(); ++it) {
        const std::string &key = it->first.Scalar();
        if (std::find(known.begin(), known.end(), key) != known.end()) continue;
        std::string hint = didYouMean(key, known);
        errors_.add(it->first, fmt::format("unknown key '{}' in {}{}", key, context_,
                                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
}

}  // namespace sockbridge
