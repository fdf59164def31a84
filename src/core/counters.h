// SPDX-License-Identifier: MIT
// Counters kept by the core for every listener and route.
#pragma once

#include <cstdint>
#include <string>

namespace sockbridge {

struct Counters {
    uint64_t messagesIn = 0;
    uint64_t bytesIn = 0;
    uint64_t messagesOut = 0;
    uint64_t bytesOut = 0;
    uint64_t drops = 0;
    uint64_t errors = 0;
    uint64_t lost = 0;  // messages or packets a peer sent that never arrived (sequence gaps)
    uint64_t connects = 0;
    uint64_t reconnects = 0;
    // Dropped by the kernel before the listener read them (packet sockets: PACKET_STATISTICS).
    uint64_t kernelDrops = 0;
    // Peers turned away by access control: outside the `allow` list, or failing the TLS handshake.
    uint64_t refused = 0;

    void countIn(uint64_t bytes)
    {
        ++messagesIn;
        bytesIn += bytes;
    }
    void countOut(uint64_t bytes)
    {
        ++messagesOut;
        bytesOut += bytes;
    }
    // {"messages_in":1,...} for stats output.
    std::string toJson() const;
};

// Every counter with its name in stats, in output order: the one list that the counters line, the
// control socket's stats and the metrics walk, so none of them can leave a counter out.
struct CounterField {
    const char *name;
    uint64_t Counters::*field;
};
inline constexpr CounterField kCounterFields[] = {
    {"messages_in", &Counters::messagesIn}, {"bytes_in", &Counters::bytesIn},   {"messages_out", &Counters::messagesOut},
    {"bytes_out", &Counters::bytesOut},     {"drops", &Counters::drops},        {"errors", &Counters::errors},
    {"lost", &Counters::lost},              {"connects", &Counters::connects},  {"reconnects", &Counters::reconnects},
    {"kernel_drops", &Counters::kernelDrops}, {"refused", &Counters::refused},
};

}  // namespace sockbridge
