// SPDX-License-Identifier: MIT
// SocketcandFormat: socketcand's ASCII protocol, server side (RAW and CONTROL mode basics).
#include "formats/socketcand_format.h"

#include <linux/can/bcm.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "formats/socketcand_bcm.h"
#include "formats/socketcand_words.h"

namespace sockbridge {

namespace {

constexpr size_t kMaxCommand = 8192;  // a muxfilter of 257 frames: 257 * 8 bytes of 3 characters
constexpr char kHex[] = "0123456789ABCDEF";

}  // namespace

using namespace socketcand;

SessionCodec SocketcandFormat::makeSession(const FormatOptions &options)
{
    auto session = std::make_shared<Session>(options);
    return {std::make_unique<Decoder>(session), std::make_unique<Encoder>(session)};
}

std::optional<std::string> SocketcandFormat::frameLine(const CanFrame &frame, int64_t timestampNs, bool fd)
{
    const std::string time = timeText(timestampNs);
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
        open(words);
    } else if (verb == "rawmode" || verb == "controlmode" || verb == "bcmmode") {
        if (words.size() != 1)
            reply(fmt::format("< error {} takes no arguments >", verb));
        else if (s.mode == Mode::NoBus)
            reply("< error no bus is open >");
        else {
            switchMode(verb == "rawmode" ? Mode::Raw : verb == "bcmmode" ? Mode::Bcm : Mode::Control);
            reply("< ok >");
        }
    } else if (verb == "isotpmode") {
        reply("< error isotpmode not supported >");
    } else if (verb == "statistics") {
        statistics(words);
    } else if (verb == "send" || verb == "sendrtr" || verb == "fdsend" || verb == "sendfd") {
        if (s.mode == Mode::NoBus)
            reply("< error no bus is open >");
        else if (s.mode == Mode::Control)
            reply(fmt::format("< error {} is not a controlmode command >", verb));
        else
            sendFrame(words, out);
    } else if (isBcmCommand(verb)) {
        if (s.mode != Mode::Bcm)
            reply(fmt::format("< error {} is a bcmmode command >", verb));
        else
            bcmCommand(words);
    } else {
        reply("< error unknown command >");
    }
}

void SocketcandFormat::Decoder::open(const std::vector<std::string_view> &words)
{
    Session &s = *session_;
    if (words.size() != 2)
        reply("< error open takes one bus name >");
    else if (s.mode != Mode::NoBus)
        reply("< error a bus is already open >");
    else if (words[1].size() > 16 ||
             (!s.options.anyCanBus &&
              std::find(s.options.canBuses.begin(), s.options.canBuses.end(), words[1]) == s.options.canBuses.end()))
        reply("< error could not open bus >");
    else {
        s.bus = std::string(words[1]);
        s.mode = Mode::Bcm;
        reply("< ok >");
    }
}

// As socketcand: leaving BCM mode closes its socket (the kernel ends its jobs), leaving CONTROL
// mode stops the statistics.
void SocketcandFormat::Decoder::switchMode(Mode mode)
{
    Session &s = *session_;
    if (s.mode == Mode::Bcm && mode != Mode::Bcm && bcmSocketOpen_) {
        host_->closeSideSocket();
        bcmSocketOpen_ = false;
    }
    if (s.mode == Mode::Control && mode != Mode::Control && host_) host_->setTick(std::chrono::milliseconds(0));
    s.mode = mode;
}

/**
 * \brief "< statistics MS >" in CONTROL mode: "< stat RBYTES RPACKETS TBYTES TPACKETS >" every MS
 *
 * As socketcand: the opened bus's interface counters, no reply on success, 0 stops.
 */
void SocketcandFormat::Decoder::statistics(const std::vector<std::string_view> &words)
{
    if (session_->mode != Mode::Control) {
        reply("< error statistics is a controlmode command >");
        return;
    }
    auto interval = words.size() == 2 ? parseDecimal(words[1], 9) : std::nullopt;
    if (!interval) {
        reply("< error syntax: statistics MILLISECONDS >");
        return;
    }
    if (!host_) {
        reply("< error statistics not available >");
        return;
    }
    host_->setTick(std::chrono::milliseconds(*interval));
}

void SocketcandFormat::Decoder::tick()
{
    const Session &s = *session_;
    if (s.mode != Mode::Control || !host_) return;
    std::optional<LinkCounters> counters = host_->linkCounters(s.bus);
    if (!counters) {
        reply(fmt::format("< error no statistics for {} >", s.bus));
        host_->setTick(std::chrono::milliseconds(0));
        return;
    }
    reply(fmt::format("< stat {} {} {} {} >", counters->rxBytes, counters->rxPackets, counters->txBytes,
                      counters->txPackets));
}

bool SocketcandFormat::Decoder::mayTransmit() const
{
    const auto &writable = session_->options.canWritableBuses;
    return std::find(writable.begin(), writable.end(), session_->bus) != writable.end();
}

/**
 * \brief A BCM-mode job command, written to the session's own CAN_BCM socket on its bus
 *
 * The socket is opened at the first job (socketcand opens it on entering BCM mode); the kernel
 * runs the jobs and ends them when the socket closes. Transmit jobs need a bus the listener
 * writes to (canWritableBuses). What the kernel refuses is answered "< error ... >".
 */
void SocketcandFormat::Decoder::bcmCommand(const std::vector<std::string_view> &words)
{
    Session &s = *session_;
    std::string why;
    std::optional<BcmCommand> command = parseBcmCommand(words, s.options.socketcandFd, why);
    if (!command) {
        reply(fmt::format("< error {} >", why));
        return;
    }
    if (command->transmits && !mayTransmit()) {
        reply(fmt::format("< error {}: no route writes to {} (write: true, no id rules) >", words[0], s.bus));
        return;
    }
    if (!host_) {
        reply("< error bcmmode jobs not available >");
        return;
    }
    if (!bcmSocketOpen_) {
        if (!host_->openSideSocket(s.bus, why)) {
            reply(fmt::format("< error cannot open a CAN_BCM socket on {}: {} >", s.bus, shown(why)));
            return;
        }
        bcmSocketOpen_ = true;
    }
    int result = host_->sendSide(bcmRequestBytes(command->request));
    if (result == -EINVAL && command->retryAsFd && s.options.socketcandFd) {
        command->request.flags |= CAN_FD_FRAME;
        result = host_->sendSide(bcmRequestBytes(command->request));
    }
    if (result < 0)
        reply(fmt::format("< error {} failed: {} >", words[0],
                          result == -EINVAL && command->retryAsFd ? "no such job" : std::strerror(-result)));
}

void SocketcandFormat::Decoder::sideReceived(std::span<const uint8_t> bytes, int64_t timestampNs)
{
    if (session_->mode != Mode::Bcm) return;
    std::optional<BcmEvent> event = parseBcmMessage(bytes);
    if (!event) return;
    if (auto line = bcmLine(*event, timestampNs, session_->options.socketcandFd)) reply(*line);
}

/**
 * \brief "< send ID LEN B0 B1 ... >", "< sendrtr ID DLC >", "< fdsend ID FLAGS LEN B0 ... >"
 *
 * As socketcand reads them: ID hex, 8 digits for an extended id; LEN decimal; each data byte 1 or
 * 2 hex digits; FLAGS hex (BRS 1, ESI 2; FDF 4 accepted). "sendfd" is taken for "fdsend". The
 * frame goes out through the routes, to the opened bus only (Decoder::target).
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
    if (words.size() < (fd ? 4u : 3u)) {
        reply(fmt::format("< error {} needs a can_id and a length >", verb));
        return;
    }
    std::string why;
    CanFrame frame;
    if (rtr) {
        // No data: the length is the DLC the remote frame asks for.
        if (words.size() != 3) {
            reply("< error sendrtr takes no data >");
            return;
        }
        auto id = parseId(words[1], why);
        auto len = parseDecimal(words[2]);
        if (!id || !len || *len > 8) {
            reply(fmt::format("< error {} >", id ? fmt::format("bad length {}", shown(words[2])) : why));
            return;
        }
        frame.id = *id | CanFrame::kRtrFlag;
        frame.len = uint8_t(*len);
    } else if (!parseFrameWords(words, 1, fd, frame, why)) {
        reply(fmt::format("< error {} >", why));
        return;
    }
    Payload payload;
    frame.appendTo(payload);
    out.push_back(std::move(payload));
}

std::string_view SocketcandFormat::Decoder::target() const
{
    const Session &s = *session_;
    return s.mode == Mode::NoBus ? std::string_view() : std::string_view(s.bus);
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
