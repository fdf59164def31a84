// SPDX-License-Identifier: MIT
// Spool: a bounded on-disk FIFO of records in append-only segment files that survives restarts.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace sockbridge {

// When appended records are forced to the disk (docs/fleet.md, "The spool on disk").
enum class SpoolSync {
    Always,  // fdatasync after every record
    Batch,   // fdatasync once per sync() call (the listener calls it once per pass), and a full segment
    Never,   // left to the kernel: survives a daemon crash, not a power cut
};

struct SpoolOptions {
    std::string directory;
    uint64_t maxBytes = 64ull << 20;  // every segment file together, headers included
    SpoolSync sync = SpoolSync::Batch;
};

class SpoolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Records are appended at the tail and read from the head in order. A record read is not gone:
// it stays until ackOldest() says it was delivered; rewind() reads again from the oldest
// unacknowledged record (after a lost connection). The acknowledged position is kept in the
// file 'cursor', so after a restart reading resumes with the first record not acknowledged.
//
// Segment file NNNNNNNNNNNNNNNNNNNN.seg: the 8 bytes "SBSPOOL1", then records, each
//   u32 little-endian payload length, u32 little-endian CRC-32 (IEEE) of the payload, payload.
// A segment is deleted once every record in it is acknowledged.
class Spool {
public:
    // Creates the directory when missing and reads back what a previous run left: a record cut
    // short or with a wrong CRC (a crash while writing) ends its segment, which is truncated
    // there and counted in corruptTails()/truncatedBytes(). Throws SpoolError.
    explicit Spool(SpoolOptions options);
    ~Spool();
    Spool(const Spool &) = delete;
    Spool &operator=(const Spool &) = delete;

    // 0, -ENOSPC when the record would take the spool over maxBytes (nothing written), or
    // another -errno when writing failed (nothing kept).
    [[nodiscard]] int append(std::span<const uint8_t> record);
    // Forces appended records to the disk under SpoolSync::Batch; 0 or -errno.
    [[nodiscard]] int sync();

    // The next record not read since the last rewind(), into `out`; false when none is left.
    [[nodiscard]] bool readNext(std::vector<uint8_t> &out);
    // Reading starts again at the oldest record not acknowledged.
    void rewind();
    // The oldest record read and not acknowledged was delivered: it will not be read again.
    void ackOldest();

    uint64_t records() const { return records_; }  // not acknowledged, read or not
    uint64_t unread() const { return records_ - readSizes_.size(); }
    uint64_t bytes() const { return bytes_; }      // on disk
    uint64_t corruptTails() const { return corruptTails_; }  // segments truncated at open
    uint64_t truncatedBytes() const { return truncatedBytes_; }
    const SpoolOptions &options() const { return options_; }

    static uint32_t crc32(std::span<const uint8_t> bytes);

private:
    struct Segment {
        uint64_t sequence = 0;
        UniqueFd fd;
        uint64_t size = 0;
    };
    struct Position {
        uint64_t sequence = 0;
        uint64_t offset = 0;
    };

    void recover();
    uint64_t scanSegment(Segment &segment, const Position *cursor, bool &cursorValid);
    std::string segmentPath(uint64_t sequence) const;
    int openSegment();
    void persistCursor();
    void dropAcknowledgedSegments();
    Segment *find(uint64_t sequence);
    void skipSegmentEnds(Position &position) const;

    SpoolOptions options_;
    uint64_t segmentBytes_;
    UniqueFd directoryFd_;
    UniqueFd cursorFd_;
    std::deque<Segment> segments_;
    Position acked_;  // the first record not acknowledged
    Position read_;   // the next record readNext() returns
    std::deque<uint32_t> readSizes_;  // records read and not acknowledged: their sizes on disk
    uint64_t records_ = 0;
    uint64_t bytes_ = 0;
    uint64_t corruptTails_ = 0;
    uint64_t truncatedBytes_ = 0;
    bool unsynced_ = false;
};

}  // namespace sockbridge
