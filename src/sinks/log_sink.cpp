// SPDX-License-Identifier: MIT
// LogSink: batches records per loop iteration; a record never straddles two rotated files.
#include "sinks/log_sink.h"

#include <fmt/core.h>

#include <cstring>

#include "core/log.h"

namespace sockbridge {

LogSink::LogSink(EventLoop &loop, const LogSpec &spec)
    : Endpoint("log:" + spec.path, loop), spec_(spec), file_(spec.path, spec.rotateSize, spec.keep)
{
}

bool LogSink::formatRecord(LogFormat format, const Message &message, std::vector<uint8_t> &out)
{
    switch (format) {
    case LogFormat::Raw:
        out.insert(out.end(), message.data.begin(), message.data.end());
        return true;
    case LogFormat::Jsonl: {
        static const auto encoder = findFormat("jsonl")->makeEncoder({});
        (void)encoder->encode(message, out);  // jsonl carries every message
        return true;
    }
    case LogFormat::Candump: {
        static const auto encoder = findFormat("candump")->makeEncoder({});
        return encoder->encode(message, out);
    }
    case LogFormat::PacketJsonl: {
        static const auto encoder = findFormat("packet-jsonl")->makeEncoder({});
        return encoder->encode(message, out);
    }
    case LogFormat::Pcap: {
        // Stateless use (tests): a writer that takes the message's link type.
        PcapWriter writer;
        std::string why;
        return writer.append(message, out, why);
    }
    case LogFormat::Hex: {
        std::string line = fmt::format("{} {} {} {} {}:", formatTimestamp(message.timestampNs), message.source,
                                       message.peer.empty() ? "-" : message.peer, messageKindName(message.kind),
                                       message.size());
        for (uint8_t byte : message.data) line += fmt::format(" {:02x}", byte);
        line += '\n';
        out.insert(out.end(), line.begin(), line.end());
        return true;
    }
    }
    return false;
}

bool LogSink::appendRecord(const Message &message)
{
    if (spec_.format != LogFormat::Pcap) {
        if (formatRecord(spec_.format, message, record_)) return true;
        logf(warnedUnencodable_ ? LogLevel::Debug : LogLevel::Warning,
             "Log '{}': dropping a {} message from '{}' that the log format cannot carry", spec_.path,
             messageKindName(message.kind), message.source);
        warnedUnencodable_ = true;
        return false;
    }
    const bool first = pcap_.linkType() == 0;
    std::string why;
    if (!pcap_.append(message, record_, why)) {
        if (!warnedSkip_)
            logf(LogLevel::Warning, "Log '{}': skipping a message from '{}': {} (counted as errors; further ones "
                 "are not logged)", spec_.path, message.source, why);
        warnedSkip_ = true;
        return false;
    }
    if (first) file_.setHeader(pcap_.fileHeader());
    return true;
}

void LogSink::drain()
{
    // Records of one iteration go out in one write(); a batch that would cross the rotation size
    // is written first, so the next record starts the new file.
    while (MessagePtr message = nextInput()) {
        record_.clear();
        if (!appendRecord(*message)) {
            ++counters().errors;
            continue;
        }
        if (!batch_.empty() && file_.exceedsLimit(batch_.size() + record_.size())) {
            if (int r = file_.write(batch_); r < 0) {
                logf(LogLevel::Error, "Failed to write log '{}': {}", spec_.path, std::strerror(-r));
                ++counters().errors;
            }
            batch_.clear();
        }
        batch_.insert(batch_.end(), record_.begin(), record_.end());
        counters().countOut(message->size());
    }
    if (batch_.empty()) return;
    if (int r = file_.write(batch_); r < 0) {
        logf(LogLevel::Error, "Failed to write log '{}': {}", spec_.path, std::strerror(-r));
        ++counters().errors;
    }
    batch_.clear();
}

void LogSink::close()
{
    drain();
    (void)file_.sync();
    file_.close();
}

}  // namespace sockbridge
