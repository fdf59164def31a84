// SPDX-License-Identifier: MIT
// SocketcandFormat: the server side of socketcand's ASCII protocol ("< hi >", "< open vcan0 >",
// "< rawmode >", "< frame 123 1700000000.123456 DEADBEEF >", "< send 123 2 de ad >").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/can_frame.h"
#include "formats/format.h"

namespace sockbridge {

struct SocketcandFormat {
    // What a connection has chosen so far. socketcand's modes: NO_BUS until "< open >", then BCM
    // (its default: jobs on the session's own CAN_BCM socket, "< send >"), RAW ("< rawmode >":
    // every frame of the bus goes to the client) and CONTROL ("< controlmode >": statistics).
    enum class Mode { NoBus, Bcm, Raw, Control };

    // One per connection, shared by its decoder (commands) and encoder (frames to the client).
    struct Session {
        explicit Session(const FormatOptions &formatOptions) : options(formatOptions) {}
        FormatOptions options;
        Mode mode = Mode::NoBus;
        std::string bus;  // the opened bus
        std::vector<Payload> replies;  // for Decoder::takeReplies
    };

    static SessionCodec makeSession(const FormatOptions &options);

    // The line socketcand sends for a frame read from the bus ("< frame 123 1.000000 DEADBEEF >",
    // "< fdframe 123 05 1.000000 00112233 >", "< rtr 123 1.000000 4 >", "< error 004 1.000000 >");
    // nullopt for a CAN FD frame when `fd` is off.
    static std::optional<std::string> frameLine(const CanFrame &frame, int64_t timestampNs, bool fd);

    // Splits what the client sends into "< ... >" commands and answers them. Never fails: a bad
    // command gets "< error ... >" and the session goes on. "< send >" yields a CAN frame for the
    // opened bus; BCM jobs go to the connection's side socket, their frames come back as replies.
    class Decoder final : public sockbridge::Decoder {
    public:
        explicit Decoder(std::shared_ptr<Session> session);
        [[nodiscard]] bool feed(std::span<const uint8_t> bytes, std::vector<Payload> &out) override;
        [[nodiscard]] bool finish(std::vector<Payload> &out) override;
        size_t pending() const override { return command_.size(); }
        void takeReplies(std::vector<Payload> &out) override;
        void attach(SessionHost &host) override { host_ = &host; }
        void sideReceived(std::span<const uint8_t> bytes, int64_t timestampNs) override;
        void tick() override;
        std::string_view target() const override;

    private:
        void command(std::string_view text, std::vector<Payload> &out);
        void reply(std::string_view text);
        void open(const std::vector<std::string_view> &words);
        void switchMode(Mode mode);
        void statistics(const std::vector<std::string_view> &words);
        void bcmCommand(const std::vector<std::string_view> &words);
        bool mayTransmit() const;
        void sendFrame(std::vector<std::string_view> &words, std::vector<Payload> &out);

        std::shared_ptr<Session> session_;
        SessionHost *host_ = nullptr;  // the connection; null in tests without one
        bool bcmSocketOpen_ = false;
        std::string command_;
        bool inCommand_ = false;
        bool skipping_ = false;  // after an overlong command: drop up to its '>'
        bool strayReported_ = false;
    };

    // Writes frames of the opened bus while the session is in RAW mode; nothing otherwise.
    class Encoder final : public sockbridge::Encoder {
    public:
        explicit Encoder(std::shared_ptr<Session> session);
        bool encode(const Message &message, std::vector<uint8_t> &out) override;
        void greet(std::vector<uint8_t> &out) override;

    private:
        std::shared_ptr<Session> session_;
    };
};

}  // namespace sockbridge
