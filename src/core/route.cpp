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
    size_t bytes = message->size();
    if (queue_.push(std::move(message))) {
        ++accepted_;
        acceptedBytes_ += bytes;
    }
    target_.notifyInput();
}

Counters Route::counters() const
{
    Counters c;
    c.messagesIn = offered_;
    c.bytesIn = acceptedBytes_;
    c.drops = queue_.drops();
    // Every accepted message either left the queue, was pushed out of it (drop-oldest), or is
    // still in it.
    uint64_t droppedOld = queue_.drops() - (offered_ - accepted_);
    c.messagesOut = accepted_ - droppedOld - queue_.size();
    return c;
}

}  // namespace sockbridge
