// SPDX-License-Identifier: MIT
// RotatingFile: an append-only file that rotates by size (path → path.1 → ... → path.N).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "sinks/log_tail.h"

namespace sockbridge {

class RotatingFile {
public:
    // rotateSize 0: never rotate. keep: how many rotated files are kept besides the live one.
    // framing: how records end, so that a torn last record can be cut when a file is opened.
    RotatingFile(std::string path, uint64_t rotateSize, unsigned keep, RecordFraming framing = RecordFraming::None);

    // Opens (creating the file, and its directory if missing) for appending; throws StartupError.
    // An existing file whose last record was torn (a kill in the middle of a write) is cut back
    // to its last whole record first, logged and counted, so new records never follow half a one.
    void open();
    // Rotates first when `bytes` would take the file past the size limit, so one write (one
    // record or one batch of records) is never split across two files. Returns 0 or -errno.
    [[nodiscard]] int write(std::span<const uint8_t> bytes);
    // Every file starts with `header` (a pcap file header): an empty file gets it before the first
    // write, and a non-empty one that does not start with it (another link type, say) is rotated
    // away first, so a file is never a mix of two headers.
    void setHeader(std::vector<uint8_t> header);
    // True when a write of `bytes` more would rotate first.
    bool wouldRotate(size_t bytes) const { return size_ > 0 && exceedsLimit(bytes); }
    bool exceedsLimit(size_t bytes) const { return rotateSize_ && size_ + bytes > rotateSize_; }
    // The file at `path` is no longer the one open (deleted, or moved away by hand or by another
    // rotator): opens a new one there. Returns 1 when it did, 0 when the file is still there, or
    // -errno.
    [[nodiscard]] int reopenIfReplaced();
    [[nodiscard]] int sync();
    void close() { fd_.reset(); }
    uint64_t size() const { return size_; }
    // Torn last records cut at open, and the bytes they had.
    uint64_t tornTails() const { return tornTails_; }
    uint64_t truncatedBytes() const { return truncatedBytes_; }
    const std::string &path() const { return path_; }

private:
    [[nodiscard]] int rotate();
    [[nodiscard]] int reopen();
    [[nodiscard]] int writeAll(std::span<const uint8_t> bytes);
    [[nodiscard]] int prepareHeader();
    [[nodiscard]] int cutTornTail();

    std::string path_;
    uint64_t rotateSize_;
    unsigned keep_;
    RecordFraming framing_;
    UniqueFd fd_;
    uint64_t size_ = 0;
    std::vector<uint8_t> header_;
    bool headerChecked_ = false;  // the open file starts with header_
    dev_t device_ = 0;  // of the open file, to notice it was replaced
    ino_t inode_ = 0;
    uint64_t tornTails_ = 0;
    uint64_t truncatedBytes_ = 0;
};

}  // namespace sockbridge
