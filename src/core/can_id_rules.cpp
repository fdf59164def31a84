// SPDX-License-Identifier: MIT
// CanRouteRules: filter_ids, rewrite and allow_ids of a route, applied to each CAN frame.
#include "core/can_id_rules.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>

namespace sockbridge {

namespace {

struct ParsedId {
    uint32_t value;
    bool eightDigits;
};

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<ParsedId> parseId(std::string_view text)
{
    text = trim(text);
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text.remove_prefix(2);
        base = 16;
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 0xffffffffu)
        return std::nullopt;
    return ParsedId{uint32_t(value), base == 16 && text.size() == 8};
}

std::string idText(uint32_t id, bool extended) { return extended ? fmt::format("0x{:08X}", id) : fmt::format("0x{:03X}", id); }

}  // namespace

bool CanIdMatch::matches(const CanFrame &frame) const
{
    if (frame.isError() || frame.isExtended() != extended) return false;
    uint32_t id = frame.rawId();
    return id >= first && id <= last;
}

std::string CanIdMatch::toString() const
{
    if (first == last) return idText(first, extended);
    return idText(first, extended) + "-" + idText(last, extended);
}

std::optional<CanIdMatch> parseCanIdMatch(std::string_view text, std::string &why)
{
    std::string_view firstText = text, lastText = text;
    if (size_t dash = text.find('-'); dash != std::string_view::npos) {
        firstText = text.substr(0, dash);
        lastText = text.substr(dash + 1);
    }
    auto first = parseId(firstText), last = parseId(lastText);
    if (!first || !last) {
        why = fmt::format("'{}' is not a CAN id (0x7DF, 2015) or a range (0x100-0x1FF)", text);
        return std::nullopt;
    }
    auto isExtended = [](const ParsedId &id) { return id.eightDigits || id.value > CanFrame::kSffMask; };
    CanIdMatch match{first->value, last->value, isExtended(*first) || isExtended(*last)};
    if (match.first > CanFrame::kEffMask || match.last > CanFrame::kEffMask) {
        why = fmt::format("'{}' is out of range: CAN ids go up to 0x1FFFFFFF", text);
        return std::nullopt;
    }
    if (match.first > match.last) {
        why = fmt::format("range '{}' ends before it starts", text);
        return std::nullopt;
    }
    return match;
}

CanRouteRules::Verdict CanRouteRules::apply(MessagePtr &message, std::string &why) const
{
    std::optional<CanFrame> frame = CanFrame::parse(message->data);
    if (!frame) {
        why = fmt::format("a {}-byte {} message is not a CAN frame", message->size(), messageKindName(message->kind));
        return Verdict::NotCan;
    }
    auto matchesAny = [&](const std::vector<CanIdMatch> &list) {
        return std::any_of(list.begin(), list.end(), [&](const CanIdMatch &m) { return m.matches(*frame); });
    };
    if ((!filter.empty() && !matchesAny(filter)) || matchesAny(exclude)) return Verdict::Filtered;
    for (const auto &rewrite : rewrites) {
        if (!rewrite.from.matches(*frame)) continue;
        uint32_t id = rewrite.to + (frame->rawId() - rewrite.from.first);
        frame->id = (frame->id & (CanFrame::kRtrFlag)) | id | (rewrite.toExtended ? CanFrame::kEffFlag : 0);
        auto copy = std::make_shared<Message>(*message);
        copy->data.clear();
        frame->appendTo(copy->data);
        message = std::move(copy);
        break;
    }
    if (allow && !matchesAny(*allow)) {
        std::string text;
        text = frame->isError() ? "an error frame" : fmt::format("id {}", idText(frame->rawId(), frame->isExtended()));
        why = fmt::format("{} is not in allow_ids", text);
        return Verdict::NotAllowed;
    }
    return Verdict::Pass;
}

}  // namespace sockbridge
