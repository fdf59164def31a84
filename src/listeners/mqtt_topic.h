// SPDX-License-Identifier: MIT
// MQTT topics: publish topic templates ("fleet/{hostname}/{listener}/{can_id}") and filter matching.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/message.h"

namespace sockbridge {

// A publish topic with placeholders, each replaced per message (docs/fleet.md):
//   {hostname}  this machine's host name
//   {listener}  the listener the message came from ({source} is the same)
//   {peer}      who sent it there: "127.0.0.1:5000", a path, a topic; "-" when nobody
//   {kind}      bytes, datagram, can, can_timeout or packet
//   {can_id}    a CAN frame's id in hex: 3 digits standard, 8 extended; "none" for other messages
// A value's '/', '+', '#' and control characters become '_', so one value is one topic level.
class TopicTemplate {
public:
    // nullopt with `why` set: an unknown placeholder, an unclosed '{', a wildcard or an empty topic.
    static std::optional<TopicTemplate> parse(std::string_view text, std::string &why);

    std::string render(const Message &message, const std::string &hostname) const;
    const std::string &text() const { return text_; }

private:
    enum class Field { Literal, Hostname, Listener, Peer, Kind, CanId };
    struct Piece {
        Field field;
        std::string literal;
    };
    std::string text_;
    std::vector<Piece> pieces_;
};

// A subscription filter: levels split by '/', '+' a whole level, '#' a whole last level.
bool validTopicFilter(std::string_view filter, std::string &why);
// Whether `topic` is one the filter selects (MQTT 3.1.1 4.7; '$' topics only by explicit filters).
bool topicMatchesFilter(std::string_view filter, std::string_view topic);

}  // namespace sockbridge
