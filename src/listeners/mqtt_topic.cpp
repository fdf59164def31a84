// SPDX-License-Identifier: MIT
// TopicTemplate and MQTT topic filter matching.
#include "listeners/mqtt_topic.h"

#include <fmt/core.h>

#include "core/can_frame.h"

namespace sockbridge {

namespace {

// One topic level: a value may not add levels or wildcards.
std::string level(std::string_view value)
{
    if (value.empty()) return "-";
    std::string out(value);
    for (char &c : out)
        if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) c = '_';
    return out;
}

std::string canIdText(const Message &message)
{
    if (message.kind != MessageKind::CanFrame && message.kind != MessageKind::CanTimeout) return "none";
    auto frame = CanFrame::parse(message.data);
    if (!frame) return "none";
    return frame->isExtended() ? fmt::format("{:08X}", frame->rawId()) : fmt::format("{:03X}", frame->rawId());
}

}  // namespace

std::optional<TopicTemplate> TopicTemplate::parse(std::string_view text, std::string &why)
{
    static const std::pair<std::string_view, Field> kFields[] = {
        {"hostname", Field::Hostname}, {"listener", Field::Listener}, {"source", Field::Listener},
        {"peer", Field::Peer},         {"kind", Field::Kind},         {"can_id", Field::CanId},
    };
    TopicTemplate topic;
    topic.text_ = text;
    if (text.empty()) {
        why = "a topic must not be empty";
        return std::nullopt;
    }
    size_t at = 0;
    while (at < text.size()) {
        size_t open = text.find('{', at);
        std::string_view literal = text.substr(at, open == std::string_view::npos ? text.npos : open - at);
        if (literal.find_first_of("+#") != std::string_view::npos) {
            why = fmt::format("topic '{}' has a wildcard ('+' or '#'): a message is published to one topic", text);
            return std::nullopt;
        }
        if (literal.find('}') != std::string_view::npos) {
            why = fmt::format("topic '{}' has a '}}' without its '{{'", text);
            return std::nullopt;
        }
        if (!literal.empty()) topic.pieces_.push_back({Field::Literal, std::string(literal)});
        if (open == std::string_view::npos) break;
        size_t close = text.find('}', open);
        if (close == std::string_view::npos) {
            why = fmt::format("topic '{}' has a '{{' without its '}}'", text);
            return std::nullopt;
        }
        std::string_view name = text.substr(open + 1, close - open - 1);
        bool known = false;
        for (const auto &[fieldName, field] : kFields) {
            if (fieldName != name) continue;
            topic.pieces_.push_back({field, {}});
            known = true;
        }
        if (!known) {
            why = fmt::format("unknown placeholder '{{{}}}' in topic '{}' (known: {{hostname}}, {{listener}}, "
                              "{{source}}, {{peer}}, {{kind}}, {{can_id}})",
                              name, text);
            return std::nullopt;
        }
        at = close + 1;
    }
    return topic;
}

std::string TopicTemplate::render(const Message &message, const std::string &hostname) const
{
    std::string out;
    for (const Piece &piece : pieces_) {
        switch (piece.field) {
        case Field::Literal: out += piece.literal; break;
        case Field::Hostname: out += level(hostname); break;
        case Field::Listener: out += level(message.source); break;
        case Field::Peer: out += level(message.peer); break;
        case Field::Kind: out += messageKindName(message.kind); break;
        case Field::CanId: out += canIdText(message); break;
        }
    }
    return out;
}

bool validTopicFilter(std::string_view filter, std::string &why)
{
    if (filter.empty()) {
        why = "a topic filter must not be empty";
        return false;
    }
    size_t start = 0;
    for (;;) {
        size_t end = filter.find('/', start);
        std::string_view part = filter.substr(start, end == std::string_view::npos ? filter.npos : end - start);
        bool wildcard = part.find_first_of("+#") != std::string_view::npos;
        if (wildcard && part != "+" && part != "#") {
            why = fmt::format("topic filter '{}': '+' and '#' must be a whole level", filter);
            return false;
        }
        if (part == "#" && end != std::string_view::npos) {
            why = fmt::format("topic filter '{}': '#' must be the last level", filter);
            return false;
        }
        if (end == std::string_view::npos) return true;
        start = end + 1;
    }
}

bool topicMatchesFilter(std::string_view filter, std::string_view topic)
{
    // '$SYS/...' and the like are matched only by a filter that names them (MQTT 4.7.2).
    if (topic.starts_with('$') && !filter.empty() && (filter[0] == '+' || filter[0] == '#')) return false;
    for (;;) {
        size_t filterEnd = filter.find('/'), topicEnd = topic.find('/');
        std::string_view filterLevel = filter.substr(0, filterEnd), topicLevel = topic.substr(0, topicEnd);
        if (filterLevel == "#") return true;
        if (filterLevel != "+" && filterLevel != topicLevel) return false;
        bool filterDone = filterEnd == std::string_view::npos, topicDone = topicEnd == std::string_view::npos;
        // "a/#" also matches "a": the parent level.
        if (topicDone) return filterDone || filter.substr(filterEnd + 1) == "#";
        if (filterDone) return false;
        filter.remove_prefix(filterEnd + 1);
        topic.remove_prefix(topicEnd + 1);
    }
}

}  // namespace sockbridge
