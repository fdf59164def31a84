// SPDX-License-Identifier: MIT
// Fuzz target: socketcand commands from a client; never fails, replies well-formed, frames valid.
#include <algorithm>

#include "core/can_frame.h"
#include "formats/format.h"
#include "fuzz_support.h"

using namespace sockbridge;

namespace {
// A reply is one "< ... >" with no other angle bracket inside, so the client can split them.
bool wellFormedReply(const Payload &reply)
{
    if (reply.size() < 4 || reply[0] != '<' || reply[1] != ' ' || reply.back() != '>') return false;
    return std::none_of(reply.begin() + 1, reply.end() - 1, [](uint8_t c) { return c == '<' || c == '>'; });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::span<const uint8_t> input(data, size);
    FormatOptions options = fuzz::smallOptions();
    options.canBuses = {"vcan0", "can1"};
    options.socketcandFd = !input.empty() && (input[0] & 0x80);
    SessionCodec session = findFormat("socketcand")->makeSession(options);

    std::vector<Payload> frames;
    std::vector<Payload> replies;
    const size_t piece = fuzz::pieceOf(input);
    for (size_t at = 0; at < input.size(); at += piece) {
        FUZZ_CHECK(session.decoder->feed(input.subspan(at, std::min(piece, input.size() - at)), frames));
        session.decoder->takeReplies(replies);
    }
    FUZZ_CHECK(session.decoder->finish(frames));
    session.decoder->takeReplies(replies);

    for (const auto &reply : replies) FUZZ_CHECK(wellFormedReply(reply));
    for (const auto &payload : frames) {
        auto frame = CanFrame::parse(payload);
        FUZZ_CHECK(frame.has_value());
        FUZZ_CHECK(options.socketcandFd || !frame->isFd());
        // Such a frame written to a client (in raw mode) is one well-formed line as well.
        std::vector<uint8_t> line;
        if (session.encoder->encode(Message{.kind = MessageKind::CanFrame, .data = payload}, line) && !line.empty())
            FUZZ_CHECK(wellFormedReply(line));
    }
    return 0;
}
