// SPDX-License-Identifier: MIT
// SocketcandFormat: socketcand's ASCII protocol, server side (RAW and CONTROL mode basics).
#include "formats/socketcand_format.h"

#include <fmt/format.h>

#include <algorithm>

namespace sockbridge {

namespace {

constexpr size_t kMaxCommand = 1024;  // "< fdsend 12345678 0F 64 " and 64 bytes fit many times over
constexpr char kHex[] = "0123456789ABCDEF";

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hexValue(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<uint32_t> parseHex(std::string_view digits, size_t maxDigits)
{
    if (digits.empty() || digits.size() > maxDigits) return std::nullopt;
    uint32_t value = 0;
    for (char c : digits) {
        int v = hexValue(c);
        if (v < 0) return std::nullopt;
        value = value << 4 | uint32_t(v);
    }
    return value;
}

std::optional<unsigned> parseDecimal(std::string_view digits)
{
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    unsigned value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + unsigned(c - '0');
    }
    return value;
}

bool validFdLength(size_t len)
{
    return len <= 8 || len == 12 || len == 16 || len == 20 || len == 24 || len == 32 || len == 48 || len == 64;
}

std::vector<std::string_view> wordsOf(std::string_view text)
{
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && isSpace(text[i])) ++i;
        size_t start = i;
        while (i < text.size() && !isSpace(text[i])) ++i;
        if (i > start) words.push_back(text.substr(start, i - start));
    }
    return words;
}

// Words go back to the client inside "< error ... >": no '<' or '>', and not too long.
std::string shown(std::string_view word)
{
    std::string out(word.substr(0, 32));
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '<' || c == '>' || c < 0x20 || c > 0x7e; }, '?');
    return out;
}

// socketcand's ids: 8 hex digits are an extended id, fewer a standard one. An id above 7FF with
// fewer digits is taken as extended too: python-can (4.1) writes ids without leading zeros.
std::optional<uint32_t> parseId(std::string_view word, std::string &why)
{
    auto id = parseHex(word, 8);
    if (!id) {
        why = fmt::format("bad can_id {}", shown(word));
        return std::nullopt;
    }
    if (word.size() == 8 || *id > CanFrame::kSffMask) {
        if (*id > CanFrame::kEffMask) {
            why = fmt::format("can_id {} is above 1FFFFFFF", shown(word));
            return std::nullopt;
        }
        return *id | CanFrame::kEffFlag;
    }
    return *id;
}

void appendId(const CanFrame &frame, std::string &out)
{
    if (frame.isExtended())
        out += fmt::format("{:08X}", frame.id & CanFrame::kEffMask);
    else
        out += fmt::format("{:03X}", frame.id & CanFrame::kSffMask);
}

}  // namespace

SessionCodec SocketcandFormat::makeSession(const FormatOptions &options)
{
    auto session = std::make_shared<Session>(options);
    return {std::make_unique<Decoder>(session), std::make_unique<Encoder>(session)};
}

std::optional<std::string> SocketcandFormat::frameLine(const CanFrame &frame, int64_t timestampNs, bool fd)
{
    int64_t ns = std::max<int64_t>(timestampNs, 0);
    std::string time = fmt::format("{}.{:06}", ns / 1'000'000'000, ns % 1'000'000'000 / 1000);
    std::string line;
    if (frame.isError()) {
        // As socketcand: the error class bits of the id, then the time; the data bytes are not sent.
        return fmt::format("< error {:03X} {} >", frame.id & CanFrame::kEffMask, time);
    }
    if (frame.isRtr()) {
        line = "< rtr ";
        appendId(frame, line);
        return line + fmt::format(" {} {} >", time, unsigned(frame.len));
    }
    if (frame.isFd()) {
        if (!fd) return std::nullopt;
        line = "< fdframe ";
        appendId(frame, line);
        line += fmt::format(" {:02X} {} ", unsigned(frame.flags), time);
    } else {
        line = "< frame ";
        appendId(frame, line);
        line += fmt::format(" {} ", time);
    }
    for (size_t i = 0; i < frame.len; ++i) {
        line += kHex[frame.data[i] >> 4];
        line += kHex[frame.data[i] & 0x0f];
    }
    return line + " >";
}

/**
 * \class SocketcandFormat::Decoder
 * \brief The client's commands: "< word ... >", with anything (or nothing) between them
 *
 * Whitespace (newlines too) between commands is skipped; other text outside "< >" gets one
 * "< error ... >" per run. A command longer than 1 KiB is answered with an error and dropped up
 * to its '>'. Commands split across reads are joined.
 */
SocketcandFormat::Decoder::Decoder(std::shared_ptr<Session> session) : session_(std::move(session)) {}

void SocketcandFormat::Decoder::reply(std::string_view text) { session_->replies.emplace_back(text.begin(), text.end()); }

void SocketcandFormat::Decoder::takeReplies(std::vector<Payload> &out)
{
    for (auto &r : session_->replies) out.push_back(std::move(r));
    session_->replies.clear();
}

bool SocketcandFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    for (uint8_t byte : bytes) {
        char c = char(byte);
        if (skipping_) {
            if (c == '>') skipping_ = false;
            continue;
        }
        if (!inCommand_) {
            if (c == '<') {
                inCommand_ = true;
                strayReported_ = false;
                command_.clear();
            } else if (!isSpace(c) && !strayReported_) {
                strayReported_ = true;
                reply("< error text outside a command >");
            }
            continue;
        }
        if (c == '>') {
            inCommand_ = false;
            command(command_, out);
            command_.clear();
        } else if (c == '<') {
            reply("< error unterminated command >");
            command_.clear();
        } else if (command_.size() >= kMaxCommand) {
            reply("< error command too long >");
            command_.clear();
            inCommand_ = false;
            skipping_ = true;
        } else {
            command_ += c;
        }
    }
    return true;
}

bool SocketcandFormat::Decoder::finish(std::vector<Payload> &)
{
    // An unterminated command at the end of input is dropped: there is nobody left to answer.
    command_.clear();
    inCommand_ = skipping_ = false;
    return true;
}

void SocketcandFormat::Decoder::command(std::string_view text, std::vector<Payload> &out)
{
    Session &s = *session_;
    std::vector<std::string_view> words = wordsOf(text);
    if (words.empty()) {
        reply("< error empty command >");
        return;
    }
    std::string_view verb = words[0];
    if (verb == "echo") {
        reply("< echo >");
    } else if (verb == "list") {
        std::string line = "< list ";
        for (const auto &bus : s.options.canBuses) line += bus + " ";
        reply(line + ">");
    } else if (verb == "open") {
        if (words.size() != 2)
            reply("< error open takes one bus name >");
        else if (s.mode != Mode::NoBus)
            reply("< error a bus is already open >");
        else if (words[1].size() > 16 ||
                 (!s.options.anyCanBus && std::find(s.options.canBuses.begin(), s.options.canBuses.end(), words[1]) ==
                                              s.options.canBuses.end()))
            reply("< error could not open bus >");
        else {
            s.bus = std::string(words[1]);
            s.mode = Mode::Bcm;
            reply("< ok >");
        }
    } else if (verb == "rawmode" || verb == "controlmode") {
        if (words.size() != 1)
            reply(fmt::format("< error {} takes no arguments >", verb));
        else if (s.mode == Mode::NoBus)
            reply("< error no bus is open >");
        else {
            s.mode = verb == "rawmode" ? Mode::Raw : Mode::Control;
            reply("< ok >");
        }
    } else if (verb == "bcmmode") {
        reply("< error bcmmode not supported >");
    } else if (verb == "isotpmode") {
        reply("< error isotpmode not supported >");
    } else if (verb == "statistics") {
        reply(s.mode == Mode::Control ? "< error statistics not supported >"
                                      : "< error statistics is a controlmode command >");
    } else if (verb == "send" || verb == "sendrtr" || verb == "fdsend" || verb == "sendfd") {
        if (s.mode == Mode::NoBus)
            reply("< error no bus is open >");
        else if (s.mode == Mode::Control)
            reply(fmt::format("< error {} is not a controlmode command >", verb));
        else
            sendFrame(words, out);
    } else {
        reply("< error unknown command >");
    }
}

/**
 * \brief "< send ID LEN B0 B1 ... >", "< sendrtr ID DLC >", "< fdsend ID FLAGS LEN B0 ... >"
 *
 * As socketcand reads them: ID hex, 8 digits for an extended id; LEN decimal; each data byte 1 or
 * 2 hex digits; FLAGS hex (BRS 1, ESI 2; FDF 4 accepted). "sendfd" is taken for "fdsend".
 */
void SocketcandFormat::Decoder::sendFrame(std::vector<std::string_view> &words, std::vector<Payload> &out)
{
    const std::string_view verb = words[0];
    const bool fd = verb == "fdsend" || verb == "sendfd";
    const bool rtr = verb == "sendrtr";
    if (fd && !session_->options.socketcandFd) {
        reply("< error CAN FD is off on this listener >");
        return;
    }
    const size_t fixed = fd ? 4 : 3;  // verb, id, [flags,] length
    if (words.size() < fixed) {
        reply(fmt::format("< error {} needs a can_id and a length >", verb));
        return;
    }
    std::string why;
    CanFrame frame;
    auto id = parseId(words[1], why);
    if (!id) {
        reply(fmt::format("< error {} >", why));
        return;
    }
    frame.id = *id;
    if (fd) {
        auto flags = parseHex(words[2], 2);
        if (!flags || (*flags & ~uint32_t(CanFrame::kBrs | CanFrame::kEsi | CanFrame::kFdf))) {
            reply(fmt::format("< error bad CAN FD flags {} (BRS 1, ESI 2) >", shown(words[2])));
            return;
        }
        frame.flags = uint8_t(*flags) | CanFrame::kFdf;
    }
    auto len = parseDecimal(words[fixed - 1]);
    size_t maxLen = fd ? 64 : 8;
    if (!len || *len > maxLen || (fd && !validFdLength(*len))) {
        reply(fmt::format("< error bad length {} >", shown(words[fixed - 1])));
        return;
    }
    frame.len = uint8_t(*len);
    if (rtr) {
        if (words.size() != fixed) {
            reply("< error sendrtr takes no data >");
            return;
        }
        frame.id |= CanFrame::kRtrFlag;
    } else {
        if (words.size() != fixed + *len) {
            reply(fmt::format("< error length {} but {} data bytes >", *len, words.size() - fixed));
            return;
        }
        for (size_t i = 0; i < *len; ++i) {
            auto byte = parseHex(words[fixed + i], 2);
            if (!byte) {
                reply(fmt::format("< error bad data byte {} >", shown(words[fixed + i])));
                return;
            }
            frame.data[i] = uint8_t(*byte);
        }
    }
    Payload payload;
    frame.appendTo(payload);
    out.push_back(std::move(payload));
}

/**
 * \class SocketcandFormat::Encoder
 * \brief "< hi >" first; in RAW mode each frame of the opened bus as socketcand prints it
 *
 * A frame read by a can listener (ifindex set) goes only to clients that opened its interface;
 * a frame from elsewhere (another format) to every client in RAW mode. Outside RAW mode, and for
 * can-bcm timeouts, nothing is written (not an error). A CAN FD frame without `socketcand_fd`,
 * and a message that is not a CAN frame, cannot be carried (false).
 */
SocketcandFormat::Encoder::Encoder(std::shared_ptr<Session> session) : session_(std::move(session)) {}

void SocketcandFormat::Encoder::greet(std::vector<uint8_t> &out)
{
    constexpr std::string_view hi = "< hi >";
    out.insert(out.end(), hi.begin(), hi.end());
}

bool SocketcandFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    std::optional<CanFrame> frame = CanFrame::parse(message.data);
    if (!frame) return false;
    const Session &s = *session_;
    if (s.mode != Mode::Raw || message.kind == MessageKind::CanTimeout) return true;
    if (message.ifindex && !message.peer.empty() && message.peer != s.bus) return true;
    std::optional<std::string> line = frameLine(*frame, message.timestampNs, s.options.socketcandFd);
    if (!line) return false;
    out.insert(out.end(), line->begin(), line->end());
    return true;
}

}  // namespace sockbridge
