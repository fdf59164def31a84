// SPDX-License-Identifier: MIT
// Route: queues messages for its target and wakes it.
#include "core/route.h"

namespace sockbridge {

Route::Route(std::string name, Listener &source, Endpoint &target, QueueLimits limits)
    : name_(std::move(name)), source_(source), target_(target), queue_(limits)
{
    target_.addInput(&queue_);
}

Route::~Route() { target_.removeInput(&queue_); }

void Route::offer(MessagePtr message)
{
    ++offered_;
    offeredBytes_ += message->size();
    queue_.push(std::move(message));
    // Normally the target drains once at the end of this loop iteration, so everything a read
    // produced goes out in one write. A read that yields more than half a queue would overflow
    // it before that: then the target takes what it can right now.
    const QueueLimits &limits = queue_.limits();
    if (queue_.size() * 2 >= limits.maxMessages || queue_.bytes() * 2 >= limits.maxBytes) target_.drainNow();
    target_.notifyInput();
}

Counters Route::counters() const
{
    Counters c;
    c.messagesIn = offered_;
    c.bytesIn = offeredBytes_;
    c.messagesOut = queue_.popped();
    c.bytesOut = queue_.poppedBytes();
    c.drops = queue_.drops();
    return c;
}

}  // namespace sockbridge
