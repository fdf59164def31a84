// SPDX-License-Identifier: MIT
// wholeRecordsEnd: a backward search for the last newline, or a walk over pcap record headers.
#include "sinks/log_tail.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "sinks/pcap_writer.h"

namespace sockbridge {

namespace {

constexpr size_t kChunk = 256 * 1024;
constexpr uint64_t kPcapFileHeader = 24;
constexpr uint64_t kPcapRecordHeader = 16;

// Reads [offset, offset + length) whole; -errno, or -EIO when the file ended early.
int readAt(int fd, uint8_t *out, size_t length, uint64_t offset)
{
    size_t done = 0;
    while (done < length) {
        ssize_t n = ::pread(fd, out + done, length - done, off_t(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -EIO;
        done += size_t(n);
    }
    return 0;
}

uint32_t le32(const uint8_t *bytes)
{
    return uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 | uint32_t(bytes[3]) << 24;
}

int64_t afterLastNewline(int fd, uint64_t size)
{
    std::vector<uint8_t> chunk;
    for (uint64_t end = size; end > 0;) {
        const uint64_t start = end > kChunk ? end - kChunk : 0;
        chunk.resize(size_t(end - start));
        if (int r = readAt(fd, chunk.data(), chunk.size(), start); r < 0) return r;
        auto newline = std::find(chunk.rbegin(), chunk.rend(), uint8_t('\n'));
        if (newline != chunk.rend()) return int64_t(start + uint64_t(chunk.rend() - newline));
        end = start;
    }
    return 0;
}

// Record headers are read through a window of the file, so a walk costs one read per 256 KiB.
class FileWindow {
public:
    FileWindow(int fd, uint64_t size) : fd_(fd), size_(size) {}

    // The `length` bytes at `offset` (within the file), or nullptr with `error_` set.
    const uint8_t *at(uint64_t offset, size_t length)
    {
        if (offset < start_ || offset + length > start_ + bytes_.size()) {
            bytes_.resize(size_t(std::min<uint64_t>(kChunk, size_ - offset)));
            start_ = offset;
            if ((error_ = readAt(fd_, bytes_.data(), bytes_.size(), offset)) < 0) return nullptr;
        }
        return bytes_.data() + (offset - start_);
    }
    int error() const { return error_; }

private:
    int fd_;
    uint64_t size_;
    uint64_t start_ = 0;
    std::vector<uint8_t> bytes_;
    int error_ = 0;
};

int64_t afterLastPcapRecord(int fd, uint64_t size)
{
    uint8_t magic[4] = {};
    const size_t magicBytes = size_t(std::min<uint64_t>(size, sizeof(magic)));
    if (int r = readAt(fd, magic, magicBytes, 0); r < 0) return r;
    uint8_t expected[4];
    for (int i = 0; i < 4; ++i) expected[i] = uint8_t(PcapWriter::kMagicNanoseconds >> (8 * i));
    if (std::memcmp(magic, expected, magicBytes) != 0) return int64_t(size);  // not a file of ours
    if (size < kPcapFileHeader) return 0;  // a torn file header: the file is as good as empty
    FileWindow window(fd, size);
    uint64_t at = kPcapFileHeader;
    while (at + kPcapRecordHeader <= size) {
        const uint8_t *header = window.at(at, kPcapRecordHeader);
        if (!header) return window.error();
        const uint64_t next = at + kPcapRecordHeader + le32(header + 8);  // incl_len
        if (next > size) break;
        at = next;
    }
    return int64_t(at);
}

}  // namespace

RecordFraming framingOf(LogFormat format)
{
    switch (format) {
    case LogFormat::Raw:
        return RecordFraming::None;
    case LogFormat::Pcap:
        return RecordFraming::Pcap;
    case LogFormat::Jsonl:
    case LogFormat::Hex:
    case LogFormat::PacketJsonl:
    case LogFormat::Candump:
        return RecordFraming::Lines;
    }
    return RecordFraming::None;
}

int64_t wholeRecordsEnd(int fd, uint64_t size, RecordFraming framing)
{
    if (size == 0) return 0;
    switch (framing) {
    case RecordFraming::None:
        return int64_t(size);
    case RecordFraming::Lines:
        return afterLastNewline(fd, size);
    case RecordFraming::Pcap:
        return afterLastPcapRecord(fd, size);
    }
    return int64_t(size);
}

}  // namespace sockbridge
