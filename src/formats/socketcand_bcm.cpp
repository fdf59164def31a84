// SPDX-License-Identifier: MIT
// socketcand's BCM mode: commands to CAN_BCM requests, RX_CHANGED to "< frame ... >" lines.
#include "formats/socketcand_bcm.h"

#include <linux/can/bcm.h>

#include <fmt/format.h>

#include <array>

#include "formats/socketcand_format.h"
#include "formats/socketcand_words.h"

namespace sockbridge::socketcand {

namespace {

constexpr uint64_t kMaxIntervalSeconds = 400ull * 24 * 60 * 60;  // the kernel's BCM_TIMER_SEC_MAX
constexpr uint32_t kMaxMuxFrames = 257;                           // the mux mask and 256 (MAX_NFRAMES + 1)

struct Verb {
    std::string_view name;
    bool fd;
};
constexpr std::array kVerbs{
    Verb{"add", false},       Verb{"update", false},      Verb{"delete", false},      Verb{"filter", false},
    Verb{"muxfilter", false}, Verb{"subscribe", false},   Verb{"unsubscribe", false}, Verb{"fdadd", true},
    Verb{"fdupdate", true},   Verb{"fdfilter", true},     Verb{"fdsubscribe", true},
};

// "SEC USEC" at words[at], as the job's interval.
std::optional<std::chrono::nanoseconds> parseInterval(const std::vector<std::string_view> &words, size_t at,
                                                      std::string &why)
{
    auto sec = parseDecimal(words[at], 12);
    auto usec = parseDecimal(words[at + 1], 12);
    if (!sec || !usec || *sec > kMaxIntervalSeconds || *usec > 999'999) {
        why = fmt::format("bad interval {} {} (seconds up to {}, microseconds up to 999999)", shown(words[at]),
                          shown(words[at + 1]), kMaxIntervalSeconds);
        return std::nullopt;
    }
    return std::chrono::seconds(*sec) + std::chrono::microseconds(*usec);
}

bool needWords(const std::vector<std::string_view> &words, size_t least, std::string_view syntax, std::string &why)
{
    if (words.size() >= least) return true;
    why = fmt::format("syntax: {}", syntax);
    return false;
}

// add SEC USEC ID DLC DATA, fdadd SEC USEC ID FLAGS LEN DATA: TX_SETUP SETTIMER|STARTTIMER with
// ival2, so the first frame goes after one interval, as in socketcand.
std::optional<BcmCommand> add(const std::vector<std::string_view> &words, bool fd, std::string &why)
{
    if (!needWords(words, fd ? 6 : 5, fd ? "fdadd SEC USEC ID FLAGS LEN DATA..." : "add SEC USEC ID DLC DATA...",
                   why))
        return std::nullopt;
    auto interval = parseInterval(words, 1, why);
    CanFrame frame;
    if (!interval || !parseFrameWords(words, 3, fd, frame, why)) return std::nullopt;
    BcmCommand command{.request = {.opcode = TX_SETUP,
                                   .flags = SETTIMER | STARTTIMER | (fd ? CAN_FD_FRAME : 0u),
                                   .ival2 = *interval,
                                   .id = frame.id,
                                   .frames = {frame}},
                       .transmits = true};
    return command;
}

// update ID DLC DATA, fdupdate ID FLAGS LEN DATA: TX_SETUP without flags: new data, same timers.
std::optional<BcmCommand> update(const std::vector<std::string_view> &words, bool fd, std::string &why)
{
    if (!needWords(words, fd ? 4 : 3, fd ? "fdupdate ID FLAGS LEN DATA..." : "update ID DLC DATA...", why))
        return std::nullopt;
    CanFrame frame;
    if (!parseFrameWords(words, 1, fd, frame, why)) return std::nullopt;
    BcmCommand command{.request = {.opcode = TX_SETUP, .flags = fd ? CAN_FD_FRAME : 0u, .id = frame.id, .frames = {frame}},
                       .transmits = true};
    return command;
}

// delete ID (TX_DELETE), unsubscribe ID (RX_DELETE).
std::optional<BcmCommand> remove(const std::vector<std::string_view> &words, uint32_t opcode, std::string &why)
{
    if (words.size() != 2) {
        why = fmt::format("syntax: {} ID", words[0]);
        return std::nullopt;
    }
    auto id = parseId(words[1], why);
    if (!id) return std::nullopt;
    return BcmCommand{.request = {.opcode = opcode, .id = *id}, .retryAsFd = true};
}

// filter SEC USEC ID DLC MASK, fdfilter SEC USEC ID LEN MASK: RX_SETUP SETTIMER with the
// throttle in ival2 and the mask as the one frame: changes in the masked bits are delivered.
std::optional<BcmCommand> filter(const std::vector<std::string_view> &words, bool fd, std::string &why)
{
    if (!needWords(words, 5, fd ? "fdfilter SEC USEC ID LEN MASK..." : "filter SEC USEC ID DLC MASK...", why))
        return std::nullopt;
    auto throttle = parseInterval(words, 1, why);
    if (!throttle) return std::nullopt;
    CanFrame mask;
    auto id = parseId(words[3], why);
    if (!id) return std::nullopt;
    mask.id = *id;
    auto len = parseDecimal(words[4]);
    if (!len || *len > (fd ? 64u : 8u) || (fd && !isValidFdLength(*len))) {
        why = fmt::format("bad length {}", shown(words[4]));
        return std::nullopt;
    }
    mask.len = uint8_t(*len);
    if (fd) mask.flags = CanFrame::kFdf;
    if (!parseDataBytes(words, 5, *len, mask, why)) return std::nullopt;
    return BcmCommand{.request = {.opcode = RX_SETUP,
                                  .flags = SETTIMER | (fd ? CAN_FD_FRAME : 0u),
                                  .ival2 = *throttle,
                                  .id = mask.id,
                                  .frames = {mask}}};
}

// muxfilter SEC USEC ID NFRAMES DATA: NFRAMES groups of 8 bytes, the mux mask first, then for
// each mux value its filter. RX_SETUP SETTIMER with the throttle in ival2 (socketcand means to;
// its state_bcm.c sets it on the wrong message).
std::optional<BcmCommand> muxfilter(const std::vector<std::string_view> &words, std::string &why)
{
    if (!needWords(words, 5, "muxfilter SEC USEC ID NFRAMES DATA...", why)) return std::nullopt;
    auto throttle = parseInterval(words, 1, why);
    if (!throttle) return std::nullopt;
    auto id = parseId(words[3], why);
    if (!id) return std::nullopt;
    auto nframes = parseDecimal(words[4]);
    if (!nframes || *nframes < 2 || *nframes > kMaxMuxFrames) {
        why = fmt::format("bad frame count {} (2 to {}: the mux mask and a filter per mux value)", shown(words[4]),
                          kMaxMuxFrames);
        return std::nullopt;
    }
    if (words.size() != 5 + *nframes * 8) {
        why = fmt::format("{} frames need {} data bytes, not {}", *nframes, *nframes * 8, words.size() - 5);
        return std::nullopt;
    }
    BcmCommand command{.request = {.opcode = RX_SETUP, .flags = SETTIMER, .ival2 = *throttle, .id = *id}};
    for (size_t i = 0; i < *nframes; ++i) {
        CanFrame frame;
        frame.id = *id;
        frame.len = 8;
        std::vector<std::string_view> group(words.begin() + ptrdiff_t(5 + i * 8), words.begin() + ptrdiff_t(13 + i * 8));
        if (!parseDataBytes(group, 0, 8, frame, why)) return std::nullopt;
        command.request.frames.push_back(frame);
    }
    return command;
}

// subscribe SEC USEC ID, fdsubscribe: RX_SETUP RX_FILTER_ID|SETTIMER: every frame of the id,
// at most one per interval.
std::optional<BcmCommand> subscribe(const std::vector<std::string_view> &words, bool fd, std::string &why)
{
    if (words.size() != 4) {
        why = fmt::format("syntax: {} SEC USEC ID", words[0]);
        return std::nullopt;
    }
    auto throttle = parseInterval(words, 1, why);
    if (!throttle) return std::nullopt;
    auto id = parseId(words[3], why);
    if (!id) return std::nullopt;
    return BcmCommand{.request = {.opcode = RX_SETUP,
                                  .flags = RX_FILTER_ID | SETTIMER | (fd ? CAN_FD_FRAME : 0u),
                                  .ival2 = *throttle,
                                  .id = *id}};
}

}  // namespace

bool isBcmCommand(std::string_view verb)
{
    for (const Verb &v : kVerbs)
        if (v.name == verb) return true;
    return false;
}

std::optional<BcmCommand> parseBcmCommand(const std::vector<std::string_view> &words, bool fd, std::string &why)
{
    std::string_view verb = words.empty() ? std::string_view() : words[0];
    const bool fdForm = verb.starts_with("fd");
    if (fdForm && !fd) {
        why = "CAN FD is off on this listener";
        return std::nullopt;
    }
    std::string_view base = fdForm ? verb.substr(2) : verb;
    if (base == "add") return add(words, fdForm, why);
    if (base == "update") return update(words, fdForm, why);
    if (verb == "delete") return remove(words, TX_DELETE, why);
    if (verb == "unsubscribe") return remove(words, RX_DELETE, why);
    if (base == "filter") return filter(words, fdForm, why);
    if (verb == "muxfilter") return muxfilter(words, why);
    if (base == "subscribe") return subscribe(words, fdForm, why);
    why = "unknown command";
    return std::nullopt;
}

std::optional<std::string> bcmLine(const BcmEvent &event, int64_t timestampNs, bool fd)
{
    if (event.kind != BcmEvent::Kind::Changed || !event.frame) return std::nullopt;
    const CanFrame &frame = *event.frame;
    if (frame.isFd() || frame.isRtr()) return SocketcandFormat::frameLine(frame, timestampNs, fd);
    std::string line;
    if (frame.isError())
        line = fmt::format("< error {:03X} {} ", frame.id & CanFrame::kEffMask, timeText(timestampNs));
    else {
        line = "< frame ";
        appendId(frame, line);
        line += fmt::format(" {} ", timeText(timestampNs));
    }
    for (size_t i = 0; i < frame.len; ++i) line += fmt::format("{:02X} ", frame.data[i]);
    return line + " >";
}

}  // namespace sockbridge::socketcand
