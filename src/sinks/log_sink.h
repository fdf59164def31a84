// SPDX-License-Identifier: MIT
// LogSink: the target of log routes; writes records (jsonl, hex, raw, pcap, packet-jsonl) to a
// RotatingFile.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "core/listener.h"
#include "sinks/pcap_writer.h"
#include "sinks/rotating_file.h"

namespace sockbridge {

class LogSink final : public Endpoint {
public:
    LogSink(EventLoop &loop, const LogSpec &spec);

    void open() { file_.open(); }
    // Writes what is still queued and syncs: called once at shutdown.
    void close();

    // One record as the log writes it (exposed for tests); false, with nothing appended, when
    // the log format cannot carry the message (candump: not a CAN frame).
    static bool formatRecord(LogFormat format, const Message &message, std::vector<uint8_t> &out);

    // torn_tails and truncated_bytes: torn last records cut when the file was opened.
    std::vector<std::pair<std::string, uint64_t>> extraCounters() const override;

protected:
    void drain() override;

private:
    // False when the record cannot go in this log (a pcap of another link type).
    bool appendRecord(const Message &message, std::vector<uint8_t> &out);
    // Writes the first `bytes` of the batch: its records but the one after them, if any.
    void writeBatch(size_t bytes);

    LogSpec spec_;
    PcapWriter pcap_;
    bool warnedSkip_ = false;
    RotatingFile file_;
    std::vector<uint8_t> batch_;
    uint64_t batchRecords_ = 0;
    uint64_t batchBytes_ = 0;  // of the messages in batch_, for the counters
    uint64_t lostWhileFailing_ = 0;  // records dropped since writing started to fail
    bool warnedUnencodable_ = false;
};

}  // namespace sockbridge
