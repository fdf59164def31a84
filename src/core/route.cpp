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
