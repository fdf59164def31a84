// SPDX-License-Identifier: MIT
// LogSink: batches records per loop iteration; a record never straddles two rotated files.
#include "sinks/log_sink.h"

#include <fmt/core.h>

#include <cstring>

#include "core/log.h"

namespace sockbridge {

LogSink::LogSink(EventLoop &loop, const LogSpec &spec)
    : Endpoint("log:" + spec.path, loop), spec_(spec), file_(spec.path, spec.rotateSize, spec.keep, framingOf(spec.format))
{
}

std::vector<std::pair<std::string, uint64_t>> LogSink::extraCounters() const
{
    return {{"torn_tails", file_.tornTails()}, {"truncated_bytes", file_.truncatedBytes()}};
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

bool LogSink::appendRecord(const Message &message, std::vector<uint8_t> &out)
{
    if (spec_.format != LogFormat::Pcap) {
        if (formatRecord(spec_.format, message, out)) return true;
        logf(warnedUnencodable_ ? LogLevel::Debug : LogLevel::Warning,
             "Log '{}': dropping a {} message from '{}' that the log format cannot carry", spec_.path,
             messageKindName(message.kind), message.source);
        warnedUnencodable_ = true;
        return false;
    }
    const bool first = pcap_.linkType() == 0;
    std::string why;
    if (!pcap_.append(message, out, why)) {
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
    // Records of one iteration go out in one write(), formatted straight into the batch; a batch
    // that would cross the rotation size is written without the last record first, so that
    // record starts the new file.
    while (MessagePtr message = nextInput()) {
        const size_t start = batch_.size();
        if (!appendRecord(*message, batch_)) {
            batch_.resize(start);
            ++counters().errors;
            continue;
        }
        if (start > 0 && file_.exceedsLimit(batch_.size())) writeBatch(start);
        ++batchRecords_;
        batchBytes_ += message->size();
    }
    if (!batch_.empty()) writeBatch(batch_.size());
}

/*
 * Records count as out once written and as errors when the write failed (a full disk): they are
 * dropped, the bridging goes on, and the next batch tries again. A failure is logged when it
 * starts and when it ends, not for every batch. A log file deleted or moved away from outside is
 * noticed here and created again at its path.
 */
void LogSink::writeBatch(size_t bytes)
{
    int r = file_.reopenIfReplaced();
    if (r > 0)
        logf(LogLevel::Notice, "Log '{}': the file was deleted or moved away; writing to a new one", spec_.path);
    if (r >= 0) r = file_.write(std::span(batch_).first(bytes));
    if (r < 0) {
        counters().errors += batchRecords_;
        if (lostWhileFailing_ == 0)
            logf(LogLevel::Error, "Failed to write log '{}': {}; dropping records until it works again "
                 "(counted as errors)", spec_.path, std::strerror(-r));
        lostWhileFailing_ += batchRecords_;
    } else {
        if (lostWhileFailing_ > 0)
            logf(LogLevel::Notice, "Log '{}': writing again; {} records were dropped", spec_.path, lostWhileFailing_);
        lostWhileFailing_ = 0;
        counters().messagesOut += batchRecords_;
        counters().bytesOut += batchBytes_;
    }
    batch_.erase(batch_.begin(), batch_.begin() + ptrdiff_t(bytes));  // what is left: one record
    batchRecords_ = 0;
    batchBytes_ = 0;
}

void LogSink::close()
{
    drain();
    (void)file_.sync();
    file_.close();
}

}  // namespace sockbridge
