// SPDX-License-Identifier: MIT
// RotatingFile: size-based rotation by renaming, newest is .1.
#include "sinks/rotating_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/listener.h"
#include "core/log.h"

namespace sockbridge {

RotatingFile::RotatingFile(std::string path, uint64_t rotateSize, unsigned keep, RecordFraming framing)
    : path_(std::move(path)), rotateSize_(rotateSize), keep_(keep), framing_(framing)
{
}

void RotatingFile::open()
{
    std::error_code ec;
    auto parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (int r = reopen(); r < 0)
        throw StartupError(fmt::format("Failed to open log '{}': {}", path_, std::strerror(-r)));
}

int RotatingFile::reopen()
{
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!fd_) return -errno;
    struct stat st{};
    if (fstat(fd_.get(), &st) < 0) return -errno;
    size_ = uint64_t(st.st_size);
    device_ = st.st_dev;
    inode_ = st.st_ino;
    headerChecked_ = false;
    return cutTornTail();
}

/*
 * A daemon killed in the middle of a write (SIGKILL, a crash, power loss) leaves half a record at
 * the end of the file. Appending after it would merge two lines or, in a pcap, make every later
 * record unreadable; so the half record goes before anything is appended.
 */
int RotatingFile::cutTornTail()
{
    if (size_ == 0 || framing_ == RecordFraming::None) return 0;
    const int64_t end = wholeRecordsEnd(fd_.get(), size_, framing_);
    if (end < 0) return int(end);
    if (uint64_t(end) == size_) return 0;
    if (::ftruncate(fd_.get(), off_t(end)) < 0) return -errno;
    const uint64_t cut = size_ - uint64_t(end);
    logf(LogLevel::Warning, "Log '{}': cut {} bytes of a torn last record (the writer was stopped in the middle of "
         "it); appending after the last whole record at offset {}", path_, cut, end);
    ++tornTails_;
    truncatedBytes_ += cut;
    size_ = uint64_t(end);
    return 0;
}

int RotatingFile::reopenIfReplaced()
{
    if (!fd_) return -EBADF;
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0) {
        if (st.st_dev == device_ && st.st_ino == inode_) return 0;
    } else if (errno != ENOENT) {
        return -errno;
    }
    if (int r = reopen(); r < 0) return r;
    return 1;
}

void RotatingFile::setHeader(std::vector<uint8_t> header)
{
    header_ = std::move(header);
    headerChecked_ = false;
}

int RotatingFile::prepareHeader()
{
    if (header_.empty() || headerChecked_) return 0;
    if (size_ > 0) {
        std::vector<uint8_t> start(header_.size());
        ssize_t n = ::pread(fd_.get(), start.data(), start.size(), 0);
        if (n < 0) return -errno;
        if (size_t(n) == start.size() && start == header_) {
            headerChecked_ = true;
            return 0;
        }
        if (int r = rotate(); r < 0) return r;
    }
    if (int r = writeAll(header_); r < 0) return r;
    headerChecked_ = true;
    return 0;
}

int RotatingFile::rotate()
{
    // Oldest goes first: path.keep is overwritten by path.(keep-1), and so on down to path.
    for (unsigned i = keep_; i > 1; --i) {
        std::string from = fmt::format("{}.{}", path_, i - 1), to = fmt::format("{}.{}", path_, i);
        if (::rename(from.c_str(), to.c_str()) < 0 && errno != ENOENT) return -errno;
    }
    if (::rename(path_.c_str(), fmt::format("{}.1", path_).c_str()) < 0) return -errno;
    return reopen();
}

int RotatingFile::write(std::span<const uint8_t> bytes)
{
    if (!fd_) return -EBADF;
    if (wouldRotate(bytes.size() + (headerChecked_ ? 0 : header_.size()))) {
        if (int r = rotate(); r < 0) return r;
    }
    if (int r = prepareHeader(); r < 0) return r;
    return writeAll(bytes);
}

/*
 * All of `bytes` or nothing: when the disk fills up halfway, what was written is cut off again,
 * so the file never ends in half a record (the next record would follow it, and a pcap would be
 * unreadable from there on).
 */
int RotatingFile::writeAll(std::span<const uint8_t> bytes)
{
    const uint64_t before = size_;
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int error = errno;
            if (done > 0 && ::ftruncate(fd_.get(), off_t(before)) == 0) size_ = before;
            return -error;
        }
        done += size_t(n);
        size_ += uint64_t(n);
    }
    return 0;
}

int RotatingFile::sync()
{
    if (fd_ && ::fdatasync(fd_.get()) < 0) return -errno;
    return 0;
}

}  // namespace sockbridge
