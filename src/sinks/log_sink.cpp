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

void LogSink::drain()
{
    // Records of one iteration go out in one write(); a batch that would cross the rotation size
    // is written first, so the next record starts the new file.
    while (MessagePtr message = nextInput()) {
        record_.clear();
        if (!formatRecord(spec_.format, *message, record_)) {
            logf(warnedUnencodable_ ? LogLevel::Debug : LogLevel::Warning,
                 "Log '{}': dropping a {} message from '{}' that the log format cannot carry", spec_.path,
                 messageKindName(message->kind), message->source);
            warnedUnencodable_ = true;
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
