// SPDX-License-Identifier: MIT
// wholeRecordsEnd: where a log file's last whole record ends, so that a record torn by a kill is cut.
#pragma once

#include <cstdint>

#include "config/config.h"

namespace sockbridge {

// How a log's records are delimited, as far as finding a torn last one needs to know.
enum class RecordFraming {
    None,   // raw: the payloads run together, no boundary to find
    Lines,  // jsonl, candump, hex, packet-jsonl: each record ends with '\n'
    Pcap,   // a pcap file header, then records with their lengths in a 16-byte header each
};

RecordFraming framingOf(LogFormat format);

// The length of the longest prefix of the file at `fd` (`size` bytes long) that ends with a whole
// record: `size` when the last record is whole, less when it was torn (the writer killed in the
// middle of a write). Lines: just after the last '\n'. Pcap: after the last record that fits in
// the file, 0 when not even the file header is whole; a file that does not start with the magic
// sockbridge writes is not its own and left whole. Returns -errno when the file cannot be read.
[[nodiscard]] int64_t wholeRecordsEnd(int fd, uint64_t size, RecordFraming framing);

}  // namespace sockbridge
