// SPDX-License-Identifier: MIT
// Spool: segment files, the acknowledged cursor, recovery of a crashed run's tail.
#include "core/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>

namespace sockbridge {

namespace {

constexpr std::array<uint8_t, 8> kMagic = {'S', 'B', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr uint64_t kHeaderBytes = kMagic.size();
constexpr uint64_t kRecordHeaderBytes = 8;  // length, CRC
constexpr size_t kCursorBytes = 20;         // u64 sequence, u64 offset, u32 CRC of those 16
constexpr uint32_t kMaxRecord = 1u << 30;

void putLe32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; ++i) out[i] = uint8_t(value >> (8 * i));
}
void putLe64(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; ++i) out[i] = uint8_t(value >> (8 * i));
}
uint32_t getLe32(const uint8_t *in)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; --i) value = (value << 8) | in[i];
    return value;
}
uint64_t getLe64(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | in[i];
    return value;
}

bool readExactly(int fd, void *buffer, size_t length, uint64_t offset)
{
    auto *at = static_cast<uint8_t *>(buffer);
    while (length > 0) {
        ssize_t n = ::pread(fd, at, length, off_t(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        at += n;
        length -= size_t(n);
        offset += uint64_t(n);
    }
    return true;
}

// "00000000000000000042.seg" → 42; nullopt for anything else in the directory.
std::optional<uint64_t> segmentSequence(std::string_view name)
{
    if (name.size() != 24 || !name.ends_with(".seg")) return std::nullopt;
    uint64_t value = 0;
    for (char c : name.substr(0, 20)) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + uint64_t(c - '0');
    }
    return value;
}

SpoolError failure(const std::string &what, const std::string &path)
{
    return SpoolError(fmt::format("Failed to {} '{}': {}", what, path, std::strerror(errno)));
}

}  // namespace

uint32_t Spool::crc32(std::span<const uint8_t> bytes)
{
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t crc = 0xFFFFFFFFu;
    for (uint8_t b : bytes) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

Spool::Spool(SpoolOptions options)
    : options_(std::move(options)),
      // A few segments per spool, so acknowledged space is given back in steps of an eighth.
      segmentBytes_(std::clamp<uint64_t>(options_.maxBytes / 8, 4096, 64ull << 20))
{
    if (::mkdir(options_.directory.c_str(), 0750) < 0 && errno != EEXIST)
        throw failure("create the spool directory", options_.directory);
    directoryFd_ = UniqueFd(::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directoryFd_) throw failure("open the spool directory", options_.directory);
    std::string cursorPath = options_.directory + "/cursor";
    cursorFd_ = UniqueFd(::open(cursorPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    if (!cursorFd_) throw failure("open", cursorPath);
    // One writer per spool: another daemon, or another listener of this one, is refused.
    if (::flock(cursorFd_.get(), LOCK_EX | LOCK_NB) < 0)
        throw SpoolError(fmt::format("Failed to lock the spool '{}': {}", options_.directory,
                                     errno == EWOULDBLOCK ? "another listener or process uses it" : std::strerror(errno)));
    recover();
}

Spool::~Spool() { (void)sync(); }

std::string Spool::segmentPath(uint64_t sequence) const
{
    return fmt::format("{}/{:020}.seg", options_.directory, sequence);
}

Spool::Segment *Spool::find(uint64_t sequence)
{
    for (auto &segment : segments_)
        if (segment.sequence == sequence) return &segment;
    return nullptr;
}

void Spool::recover()
{
    std::vector<uint64_t> sequences;
    if (DIR *dir = ::fdopendir(::dup(directoryFd_.get()))) {
        while (dirent *entry = ::readdir(dir))
            if (auto sequence = segmentSequence(entry->d_name)) sequences.push_back(*sequence);
        ::closedir(dir);
    } else {
        throw failure("list the spool directory", options_.directory);
    }
    std::sort(sequences.begin(), sequences.end());

    std::array<uint8_t, kCursorBytes> raw{};
    Position cursor;
    bool cursorValid = readExactly(cursorFd_.get(), raw.data(), raw.size(), 0) &&
                       getLe32(raw.data() + 16) == crc32({raw.data(), 16});
    if (cursorValid) cursor = {getLe64(raw.data()), getLe64(raw.data() + 8)};
    bool cursorFound = false;

    for (uint64_t sequence : sequences) {
        std::string path = segmentPath(sequence);
        if (cursorValid && sequence < cursor.sequence) {  // acknowledged before the last run ended
            ::unlink(path.c_str());
            continue;
        }
        Segment segment{sequence, UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC)), 0};
        if (!segment.fd) throw failure("open", path);
        bool cursorHere = false;
        uint64_t records = scanSegment(segment, cursorValid && sequence == cursor.sequence ? &cursor : nullptr,
                                       cursorHere);
        cursorFound = cursorFound || cursorHere;
        records_ += records;
        bytes_ += segment.size;
        segments_.push_back(std::move(segment));
    }
    // New segments are numbered after the cursor's, so an old cursor never covers them.
    acked_ = segments_.empty() ? Position{cursorValid ? cursor.sequence : 0, kHeaderBytes}
                               : Position{segments_.front().sequence, kHeaderBytes};
    if (cursorFound) acked_ = cursor;
    read_ = acked_;
    dropAcknowledgedSegments();
}

// Checks every record; a bad one ends the segment (truncated there). Returns how many records
// are not acknowledged; `cursorValid` says whether `cursor` (in this segment) is a record start,
// in which case the records before it are not counted.
uint64_t Spool::scanSegment(Segment &segment, const Position *cursor, bool &cursorValid)
{
    struct stat info{};
    if (::fstat(segment.fd.get(), &info) < 0) throw failure("stat", segmentPath(segment.sequence));
    const uint64_t size = uint64_t(info.st_size);
    std::array<uint8_t, kHeaderBytes> magic{};
    uint64_t offset = 0, records = 0, beforeCursor = 0;
    std::vector<uint8_t> payload;
    if (size >= kHeaderBytes && readExactly(segment.fd.get(), magic.data(), magic.size(), 0) && magic == kMagic) {
        offset = kHeaderBytes;
        for (;;) {
            if (cursor && cursor->offset == offset) {
                cursorValid = true;
                beforeCursor = records;
            }
            uint8_t header[kRecordHeaderBytes];
            if (offset + kRecordHeaderBytes > size || !readExactly(segment.fd.get(), header, sizeof(header), offset))
                break;
            uint32_t length = getLe32(header);
            if (length > kMaxRecord || offset + kRecordHeaderBytes + length > size) break;
            payload.resize(length);
            if (!readExactly(segment.fd.get(), payload.data(), length, offset + kRecordHeaderBytes) ||
                crc32(payload) != getLe32(header + 4))
                break;
            offset += kRecordHeaderBytes + length;
            ++records;
        }
    } else if (::pwrite(segment.fd.get(), kMagic.data(), kMagic.size(), 0) == ssize_t(kMagic.size())) {
        offset = kHeaderBytes;  // a segment whose header never reached the disk: keep it, empty
    }
    if (offset != size) {
        if (size > offset) ++corruptTails_;
        truncatedBytes_ += size > offset ? size - offset : 0;
        if (::ftruncate(segment.fd.get(), off_t(offset)) < 0) throw failure("truncate", segmentPath(segment.sequence));
    }
    segment.size = offset;
    return records - beforeCursor;
}

int Spool::openSegment()
{
    uint64_t sequence = segments_.empty() ? acked_.sequence + 1 : segments_.back().sequence + 1;
    std::string path = segmentPath(sequence);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!fd) return -errno;
    if (::pwrite(fd.get(), kMagic.data(), kMagic.size(), 0) != ssize_t(kMagic.size())) {
        int error = errno ? errno : EIO;
        ::unlink(path.c_str());
        return -error;
    }
    if (segments_.empty()) acked_ = read_ = {sequence, kHeaderBytes};
    segments_.push_back({sequence, std::move(fd), kHeaderBytes});
    bytes_ += kHeaderBytes;
    return 0;
}

int Spool::append(std::span<const uint8_t> record)
{
    const uint64_t needed = kRecordHeaderBytes + record.size();
    bool roll = segments_.empty() ||
                (segments_.back().size > kHeaderBytes && segments_.back().size + needed > segmentBytes_);
    if (bytes_ + needed + (roll ? kHeaderBytes : 0) > options_.maxBytes || record.size() > kMaxRecord) return -ENOSPC;
    if (roll) {
        // The full segment goes to the disk before records land in the next (Batch and Always).
        if (!segments_.empty() && options_.sync != SpoolSync::Never) ::fdatasync(segments_.back().fd.get());
        if (int rc = openSegment(); rc < 0) return rc;
    }
    Segment &segment = segments_.back();
    uint8_t header[kRecordHeaderBytes];
    putLe32(header, uint32_t(record.size()));
    putLe32(header + 4, crc32(record));
    iovec parts[2] = {{header, sizeof(header)}, {const_cast<uint8_t *>(record.data()), record.size()}};
    ssize_t n = ::pwritev(segment.fd.get(), parts, 2, off_t(segment.size));
    if (n != ssize_t(needed)) {
        int error = n < 0 ? errno : ENOSPC;
        if (::ftruncate(segment.fd.get(), off_t(segment.size)) < 0) {}  // nothing of it is kept
        return -error;
    }
    segment.size += needed;
    bytes_ += needed;
    ++records_;
    if (options_.sync == SpoolSync::Always) {
        if (::fdatasync(segment.fd.get()) < 0) return -errno;
    } else {
        unsynced_ = true;
    }
    return 0;
}

int Spool::sync()
{
    if (!unsynced_ || options_.sync == SpoolSync::Never || segments_.empty()) return 0;
    unsynced_ = false;
    return ::fdatasync(segments_.back().fd.get()) < 0 ? -errno : 0;
}

bool Spool::readNext(std::vector<uint8_t> &out)
{
    skipSegmentEnds(read_);
    const Segment *segment = find(read_.sequence);
    if (!segment || read_.offset + kRecordHeaderBytes > segment->size) return false;
    uint8_t header[kRecordHeaderBytes];
    if (!readExactly(segment->fd.get(), header, sizeof(header), read_.offset)) return false;
    uint32_t length = getLe32(header);
    out.resize(length);
    if (!readExactly(segment->fd.get(), out.data(), length, read_.offset + kRecordHeaderBytes)) return false;
    read_.offset += kRecordHeaderBytes + length;
    readSizes_.push_back(uint32_t(kRecordHeaderBytes + length));
    return true;
}

// A position at the end of a segment that is not the last one moves to the next segment's start.
void Spool::skipSegmentEnds(Position &position) const
{
    // A position in a segment already deleted (all of it acknowledged) moves to the oldest one.
    if (!segments_.empty() && position.sequence < segments_.front().sequence)
        position = {segments_.front().sequence, kHeaderBytes};
    for (size_t i = 0; i + 1 < segments_.size(); ++i)
        if (segments_[i].sequence == position.sequence && position.offset >= segments_[i].size)
            position = {segments_[i + 1].sequence, kHeaderBytes};
}

void Spool::rewind()
{
    read_ = acked_;
    readSizes_.clear();
}

void Spool::ackOldest()
{
    if (readSizes_.empty()) return;
    skipSegmentEnds(acked_);
    acked_.offset += readSizes_.front();
    readSizes_.pop_front();
    --records_;
    skipSegmentEnds(acked_);
    dropAcknowledgedSegments();
    persistCursor();
}

// Segments before the acknowledged position are done: their space is given back.
void Spool::dropAcknowledgedSegments()
{
    while (!segments_.empty() && segments_.front().sequence < acked_.sequence) {
        ::unlink(segmentPath(segments_.front().sequence).c_str());
        bytes_ -= segments_.front().size;
        segments_.pop_front();
    }
    // Everything acknowledged: the last segment goes too, and the next record starts a new one.
    if (segments_.size() == 1 && records_ == 0 && acked_.offset >= segments_.front().size) {
        ::unlink(segmentPath(segments_.front().sequence).c_str());
        bytes_ -= segments_.front().size;
        segments_.pop_front();
        read_ = acked_;
    }
}

void Spool::persistCursor()
{
    // Not synced: the cursor survives a crash of the daemon; after a power cut the records since
    // the last write-back are delivered again (at least once).
    uint8_t raw[kCursorBytes];
    putLe64(raw, acked_.sequence);
    putLe64(raw + 8, acked_.offset);
    putLe32(raw + 16, crc32({raw, 16}));
    if (::pwrite(cursorFd_.get(), raw, sizeof(raw), 0) != ssize_t(sizeof(raw))) {}  // next ack writes it again
}

}  // namespace sockbridge
