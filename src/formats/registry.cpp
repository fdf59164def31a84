// SPDX-License-Identifier: MIT
// The table of formats: adding a codec is one file and one row here.
#include "formats/candump_format.h"
#include "formats/cannelloni_format.h"
#include "formats/format.h"
#include "formats/jsonl_format.h"
#include "formats/length_prefixed_format.h"
#include "formats/lines_format.h"
#include "formats/packet_summary_format.h"
#include "formats/raw_format.h"
#include "formats/socketcand_beacon.h"
#include "formats/socketcand_format.h"

namespace sockbridge {

namespace {
template <typename T>
std::unique_ptr<Decoder> decoderOf(const FormatOptions &options)
{
    return std::make_unique<typename T::Decoder>(options);
}
template <typename T>
std::unique_ptr<Encoder> encoderOf(const FormatOptions &options)
{
    return std::make_unique<typename T::Encoder>(options);
}

#define FORMAT_ROW(T, name, summary, frames) \
    FormatKind{name, summary, frames, &decoderOf<T>, &encoderOf<T>}

const FormatKind kFormats[] = {
    FormatKind{.name = "raw",
               .summary = "bytes as they come; one datagram is one message",
               .framesStream = false,
               .makeDecoder = &decoderOf<RawFormat>,
               .makeEncoder = &encoderOf<RawFormat>,
               .passthrough = true},
    FORMAT_ROW(LinesFormat, "lines", "newline-terminated lines (\\n or \\r\\n)", true),
    FORMAT_ROW(LengthPrefixedFormat, "length-prefixed", "u32 big-endian length, then the bytes", true),
    FORMAT_ROW(JsonlFormat, "jsonl", "one JSON object a line: ts, source, peer, text or base64", true),
    FormatKind{.name = "packet-jsonl",
               .summary = "output only: one JSON line per packet decoding its Ethernet/IP/TCP/UDP headers",
               .framesStream = true,
               .makeDecoder = &decoderOf<PacketSummaryFormat>,
               .makeEncoder = &encoderOf<PacketSummaryFormat>,
               .encodeOnly = true},
    FormatKind{.name = "candump",
               .summary = "CAN frames as can-utils' text: \"(SEC.USEC) IFACE ID#DATA\" lines",
               .framesStream = true,
               .makeDecoder = &decoderOf<CandumpFormat>,
               .makeEncoder = &encoderOf<CandumpFormat>,
               .messageKind = MessageKind::CanFrame,
               .linkType = kLinkTypeCanSocketCan},
    FormatKind{.name = "cannelloni",
               .summary = "CAN frames in cannelloni's UDP packets: many a datagram, sequence-numbered",
               .framesStream = false,
               .makeDecoder = &decoderOf<CannelloniFormat>,
               .makeEncoder = &encoderOf<CannelloniFormat>,
               .messageKind = MessageKind::CanFrame,
               .linkType = kLinkTypeCanSocketCan},
    FormatKind{.name = "cannelloni-tcp",
               .summary = "CAN frames as cannelloni's TCP protocol: \"CANNELLONIv1\", then frames",
               .framesStream = true,
               .makeDecoder = &decoderOf<CannelloniTcpFormat>,
               .makeEncoder = &encoderOf<CannelloniTcpFormat>,
               .messageKind = MessageKind::CanFrame,
               .linkType = kLinkTypeCanSocketCan},
    FormatKind{.name = "socketcand",
               .summary = "socketcand's ASCII protocol, server side: \"< open BUS >\", \"< rawmode >\", \"< frame ... >\"",
               .framesStream = true,
               .makeDecoder = [](const FormatOptions &o) { return std::move(SocketcandFormat::makeSession(o).decoder); },
               .makeEncoder = [](const FormatOptions &o) { return std::move(SocketcandFormat::makeSession(o).encoder); },
               .messageKind = MessageKind::CanFrame,
               .linkType = kLinkTypeCanSocketCan,
               .makeSession = &SocketcandFormat::makeSession,
               .announcement = &socketcandBeacon},
};
#undef FORMAT_ROW
}  // namespace

std::span<const FormatKind> formatKinds() { return kFormats; }

const FormatKind *findFormat(std::string_view name)
{
    for (const auto &kind : kFormats)
        if (kind.name == name) return &kind;
    return nullptr;
}

}  // namespace sockbridge
