// SPDX-License-Identifier: MIT
// Route: one edge from a listener to a listener or a log, through its own bounded queue.
#pragma once

#include <string>

#include "core/can_id_rules.h"
#include "core/counters.h"
#include "core/listener.h"
#include "core/route_queue.h"

namespace sockbridge {

class Route {
public:
    Route(std::string name, Listener &source, Endpoint &target, QueueLimits limits, CanRouteRules canRules = {});
    ~Route();
    Route(const Route &) = delete;
    Route &operator=(const Route &) = delete;

    const std::string &name() const { return name_; }
    Listener &source() { return source_; }
    Endpoint &target() { return target_; }
    RouteQueue &queue() { return queue_; }
    const RouteQueue &queue() const { return queue_; }

    void offer(MessagePtr message);
    // Offered (in), taken by the target (out), dropped by the queue's policy or refused by the
    // CAN rules (not a CAN frame, not in allow_ids).
    Counters counters() const;

private:
    std::string name_;
    Listener &source_;
    Endpoint &target_;
    RouteQueue queue_;
    CanRouteRules canRules_;
    uint64_t offered_ = 0;
    uint64_t refused_ = 0;
    uint64_t offeredBytes_ = 0;
};

}  // namespace sockbridge
