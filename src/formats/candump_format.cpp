// SPDX-License-Identifier: MIT
// CandumpFormat: can-utils' text form of CAN frames, in both directions.
#include "formats/candump_format.h"
#include "formats/hex_digit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace sockbridge {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool isSpace(char c) { return c == ' ' || c == '\t'; }

// The next whitespace-separated word of `rest`, removed from it.
std::string_view nextWord(std::string_view &rest)
{
    size_t start = 0;
    while (start < rest.size() && isSpace(rest[start])) ++start;
    size_t end = start;
    while (end < rest.size() && !isSpace(rest[end])) ++end;
    std::string_view word = rest.substr(start, end - start);
    rest.remove_prefix(end);
    return word;
}

// "(1699999999.123456)": digits, a dot, digits, in parentheses.
bool validTimestamp(std::string_view word)
{
    if (word.size() < 5 || word.front() != '(' || word.back() != ')') return false;
    std::string_view inner = word.substr(1, word.size() - 2);
    size_t dot = inner.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == inner.size()) return false;
    return std::all_of(inner.begin(), inner.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); }) &&
           std::count(inner.begin(), inner.end(), '.') == 1;
}

}  // namespace

/**
 * \brief Parses a frame as cansend takes it and candump prints it
 *
 * `ID#DATA` with a 3-digit standard id (at most 7FF) or an 8-digit extended id (at most
 * 1FFFFFFF; an 8-digit id with the CAN_ERR_FLAG bit 20000000 is an error frame); DATA is up to 8
 * bytes as hex pairs, optionally separated by '.'. `ID#R` is a remote frame, optionally
 * followed by its length digit (0..8). `ID##F` starts a CAN FD frame: F is the flags nibble
 * (BRS 1, ESI 2; FDF 4 is accepted and always set), then up to 64 data bytes, a length CAN FD
 * can carry (0..8, 12, 16, 20, 24, 32, 48, 64). A trailing `_D` (a classic frame's DLC 9..F)
 * is accepted and ignored. Hex digits may be upper or lower case.
 */
std::optional<CanFrame> CandumpFormat::parseFrame(std::string_view text, std::string &why)
{
    CanFrame frame;
    size_t hash = text.find('#');
    if (hash != 3 && hash != 8) {
        why = hash == std::string_view::npos ? "no '#' between id and data"
                                             : "the id must be 3 hex digits (standard) or 8 (extended)";
        return std::nullopt;
    }
    auto id = parseHexDigits(text.substr(0, hash));
    if (!id) {
        why = "the id is not hex";
        return std::nullopt;
    }
    if (hash == 3) {
        if (*id > CanFrame::kSffMask) {
            why = fmt::format("standard id {:03X} is out of range (at most 7FF)", *id);
            return std::nullopt;
        }
        frame.id = *id;
    } else if (*id & CanFrame::kErrFlag) {
        if (*id & (CanFrame::kEffFlag | CanFrame::kRtrFlag)) {
            why = fmt::format("error frame id {:08X} is out of range (at most 3FFFFFFF)", *id);
            return std::nullopt;
        }
        frame.id = *id;
    } else {
        if (*id > CanFrame::kEffMask) {
            why = fmt::format("extended id {:08X} is out of range (at most 1FFFFFFF)", *id);
            return std::nullopt;
        }
        frame.id = *id | CanFrame::kEffFlag;
    }

    std::string_view rest = text.substr(hash + 1);
    size_t maxLength = 8;
    if (!rest.empty() && (rest[0] == 'R' || rest[0] == 'r')) {
        if (frame.isError()) {
            why = "an error frame cannot be a remote frame";
            return std::nullopt;
        }
        frame.id |= CanFrame::kRtrFlag;
        rest.remove_prefix(1);
        if (!rest.empty() && rest[0] >= '0' && rest[0] <= '8') {
            frame.len = uint8_t(rest[0] - '0');
            rest.remove_prefix(1);
        }
        if (rest.size() == 2 && rest[0] == '_' && hexDigitValue(rest[1]) >= 9) rest = {};
        if (!rest.empty()) {
            why = "a remote frame takes only a length digit 0..8 after 'R'";
            return std::nullopt;
        }
        return frame;
    }
    if (!rest.empty() && rest[0] == '#') {
        if (frame.isError()) {
            why = "an error frame cannot be a CAN FD frame";
            return std::nullopt;
        }
        int flags = rest.size() > 1 ? hexDigitValue(rest[1]) : -1;
        if (flags < 0 || flags > 7) {
            why = "'##' must be followed by the FD flags nibble 0..7 (BRS 1, ESI 2)";
            return std::nullopt;
        }
        frame.flags = uint8_t(flags) | CanFrame::kFdf;
        maxLength = 64;
        rest.remove_prefix(2);
    }
    size_t len = 0;
    while (!rest.empty()) {
        if (rest[0] == '.') {
            rest.remove_prefix(1);
            continue;
        }
        if (rest[0] == '_' && !frame.isFd() && len == 8 && rest.size() == 2 && hexDigitValue(rest[1]) >= 9) break;
        if (rest.size() < 2 || hexDigitValue(rest[0]) < 0 || hexDigitValue(rest[1]) < 0) {
            why = rest.size() < 2 && hexDigitValue(rest[0]) >= 0 ? "odd number of hex digits in the data"
                                                             : fmt::format("bad hex '{}' in the data", rest.substr(0, 2));
            return std::nullopt;
        }
        if (len == maxLength) {
            why = frame.isFd() ? "more than 64 data bytes on a CAN FD frame"
                               : "more than 8 data bytes on a classic CAN frame (use '##' for CAN FD)";
            return std::nullopt;
        }
        frame.data[len++] = uint8_t(hexDigitValue(rest[0]) << 4 | hexDigitValue(rest[1]));
        rest.remove_prefix(2);
    }
    if (frame.isFd() && !isValidFdLength(len)) {
        why = fmt::format("{} data bytes is not a CAN FD length (0..8, 12, 16, 20, 24, 32, 48, 64)", len);
        return std::nullopt;
    }
    frame.len = uint8_t(len);
    return frame;
}

void CandumpFormat::appendFrame(const CanFrame &frame, std::string &out)
{
    if (frame.isError())
        out += fmt::format("{:08X}", frame.id & (CanFrame::kErrFlag | CanFrame::kEffMask));
    else if (frame.isExtended())
        out += fmt::format("{:08X}", frame.id & CanFrame::kEffMask);
    else
        out += fmt::format("{:03X}", frame.id & CanFrame::kSffMask);
    out += '#';
    if (frame.isFd()) {
        out += '#';
        // As candump prints what the kernel (6.0 and later) reports: FDF (4) is set on every FD frame.
        out += kHex[(frame.flags & (CanFrame::kBrs | CanFrame::kEsi)) | CanFrame::kFdf];
    } else if (frame.isRtr()) {
        out += 'R';
        if (frame.len > 0 && frame.len <= 8) out += kHex[frame.len];
        return;
    }
    for (size_t i = 0; i < frame.len; ++i) {
        out += kHex[frame.data[i] >> 4];
        out += kHex[frame.data[i] & 0x0f];
    }
}

std::string CandumpFormat::logLine(const CanFrame &frame, int64_t timestampNs, std::string_view interface)
{
    int64_t ns = std::max<int64_t>(timestampNs, 0);
    std::string line = fmt::format("({:010}.{:06}) ", ns / 1'000'000'000, ns % 1'000'000'000 / 1000);
    if (interface.empty()) interface = "can";
    for (char c : interface) line += isSpace(c) || c == '\n' || c == '\r' ? '_' : c;
    line += ' ';
    appendFrame(frame, line);
    return line;
}

/**
 * \class CandumpFormat::Decoder
 * \brief Splits a byte stream into lines and each line into one CAN frame (canonical bytes)
 *
 * A line is a candump -L log line "(SEC.USEC) IFACE FRAME", optionally followed by candump's
 * direction word (T or R), or a bare FRAME as cansend takes it. Empty lines and lines starting
 * with '#' are skipped. The timestamp and interface of a log line are checked but not kept: the
 * message gets the time it was read. An invalid line fails the decoder, with the line and why.
 */
CandumpFormat::Decoder::Decoder(const FormatOptions &options) : maxMessage_(options.maxMessage) {}

bool CandumpFormat::Decoder::line(std::string_view text, std::vector<Payload> &out)
{
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    std::string_view rest = text;
    std::string_view word = nextWord(rest);
    if (word.empty() || word[0] == '#') return true;
    std::string why;
    if (word[0] == '(') {
        if (!validTimestamp(word)) {
            why = "bad timestamp (expected '(SECONDS.MICROSECONDS)')";
        } else if (nextWord(rest).empty()) {
            why = "no interface after the timestamp";
        } else {
            word = nextWord(rest);
            if (word.empty()) why = "no frame after the interface";
        }
    }
    std::optional<CanFrame> frame;
    if (why.empty()) frame = parseFrame(word, why);
    if (frame) {
        std::string_view direction = nextWord(rest);
        if ((!direction.empty() && direction != "T" && direction != "R") || !nextWord(rest).empty())
            why = "unexpected text after the frame";
    }
    if (!why.empty()) {
        failed_ = true;
        std::string shown(text.substr(0, 120));
        error_ = fmt::format("bad candump line \"{}{}\": {}", shown, text.size() > 120 ? "..." : "", why);
        return false;
    }
    Payload payload;
    frame->appendTo(payload);
    out.push_back(std::move(payload));
    return true;
}

bool CandumpFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    if (failed_) return false;
    const char *p = reinterpret_cast<const char *>(bytes.data());
    const char *const end = p + bytes.size();
    while (p < end) {
        const auto *nl = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
        // The limit holds for every line, however the stream was cut into pieces: a long line
        // that came whole is refused as one that came in parts is.
        const size_t lineSize = partial_.size() + size_t((nl ? nl : end) - p);
        if (lineSize > maxMessage_) {
            failed_ = true;
            partial_.clear();
            error_ = fmt::format("line longer than {} bytes", maxMessage_);
            return false;
        }
        if (!nl) {
            partial_.append(p, end);
            break;
        }
        bool ok;
        if (partial_.empty()) {
            ok = line({p, size_t(nl - p)}, out);
        } else {
            partial_.append(p, nl);
            ok = line(partial_, out);
            partial_.clear();
        }
        if (!ok) return false;
        p = nl + 1;
    }
    return true;
}

bool CandumpFormat::Decoder::finish(std::vector<Payload> &out)
{
    if (failed_) return false;
    std::string last = std::move(partial_);
    partial_.clear();
    return last.empty() || line(last, out);
}

/**
 * \class CandumpFormat::Encoder
 * \brief Writes each CAN frame as a candump -L log line, which canplayer replays
 *
 * The interface is the one the frame was read on (a can listener's message: ifindex set, peer
 * its name), else the source listener's name. A message that is not a CAN frame is refused (counted by the caller).
 * A can-bcm timeout (kind CanTimeout) becomes a comment line "# (SEC.USEC) IFACE ID timeout".
 */
CandumpFormat::Encoder::Encoder(const FormatOptions &) {}

bool CandumpFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    std::optional<CanFrame> frame = CanFrame::parse(message.data);
    if (!frame) return false;
    std::string line = logLine(*frame, message.timestampNs, message.ifindex && !message.peer.empty() ? message.peer : message.source);
    if (message.kind == MessageKind::CanTimeout) {
        // A can-bcm timeout is no frame: a comment line, which canplayer and this decoder skip.
        // "# (1700000000.123456) vcan0 200 timeout": the id as candump prints it.
        line = "# " + line.substr(0, line.rfind('#')) + " timeout";
    }
    line += '\n';
    out.insert(out.end(), line.begin(), line.end());
    return true;
}

}  // namespace sockbridge
