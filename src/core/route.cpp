// SPDX-License-Identifier: MIT
// Route: queues messages for its target and wakes it.
#include "core/route.h"

#include "core/log.h"

namespace sockbridge {

Route::Route(std::string name, Listener &source, Endpoint &target, QueueLimits limits, CanRouteRules canRules)
    : name_(std::move(name)), source_(source), target_(target), queue_(limits), canRules_(std::move(canRules))
{
    target_.addInput(&queue_);
}

Route::~Route() { target_.removeInput(&queue_); }

void Route::offer(MessagePtr message)
{
    if (!canRules_.empty()) {
        std::string why;
        switch (canRules_.apply(message, why)) {
        case CanRouteRules::Verdict::Pass: break;
        case CanRouteRules::Verdict::Filtered: return;  // not for this route: not counted
        case CanRouteRules::Verdict::NotCan:
        case CanRouteRules::Verdict::NotAllowed:
            ++offered_;
            offeredBytes_ += message->size();
            ++refused_;
            logf(LogLevel::Debug, "Route '{}': dropping a frame: {}", name_, why);
            return;
        }
    }
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
    c.drops = queue_.drops() + refused_;
    return c;
}

}  // namespace sockbridge
