// SPDX-License-Identifier: MIT
// RouteQueue: the bounded queue in front of every route target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "core/message.h"

namespace sockbridge {

enum class OverflowPolicy { DropNewest, DropOldest, Block };

const char *overflowPolicyName(OverflowPolicy policy);

struct QueueLimits {
    size_t maxMessages = 4096;
    size_t maxBytes = 4 * 1024 * 1024;
    OverflowPolicy overflow = OverflowPolicy::DropNewest;
};

class RouteQueue {
public:
    explicit RouteQueue(QueueLimits limits) : limits_(limits) {}

    // Queues the message or drops one according to the policy; returns false when `message`
    // itself was dropped. Under `block` it always queues: the source checks full() before it
    // reads, so the queue overshoots its limit by at most one read's worth of messages. A single
    // message larger than max_bytes is taken when the queue is empty, or it could never pass.
    bool push(MessagePtr message);
    MessagePtr pop();
    const MessagePtr &front() const { return items_.front(); }
    bool empty() const { return items_.empty(); }
    size_t size() const { return items_.size(); }
    size_t bytes() const { return bytes_; }
    bool full() const { return items_.size() >= limits_.maxMessages || bytes_ >= limits_.maxBytes; }
    uint64_t drops() const { return drops_; }
    // Messages and bytes taken out by the target.
    uint64_t popped() const { return popped_; }
    uint64_t poppedBytes() const { return poppedBytes_; }
    const QueueLimits &limits() const { return limits_; }

    // Under `block`: called once when the queue has drained to half its limits after full() was
    // seen by a source that paused; the source resumes reading.
    void setOnSpace(std::function<void()> callback) { onSpace_ = std::move(callback); }
    void markSourceWaiting() { sourceWaiting_ = true; }

private:
    bool hasRoomFor(size_t bytes) const;

    QueueLimits limits_;
    std::deque<MessagePtr> items_;
    size_t bytes_ = 0;
    uint64_t drops_ = 0;
    uint64_t popped_ = 0;
    uint64_t poppedBytes_ = 0;
    bool sourceWaiting_ = false;
    std::function<void()> onSpace_;
};

}  // namespace sockbridge
