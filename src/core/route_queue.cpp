// SPDX-License-Identifier: MIT
// RouteQueue overflow policies.
#include "core/route_queue.h"

namespace sockbridge {

const char *overflowPolicyName(OverflowPolicy policy)
{
    switch (policy) {
    case OverflowPolicy::DropNewest: return "drop-newest";
    case OverflowPolicy::DropOldest: return "drop-oldest";
    case OverflowPolicy::Block: return "block";
    }
    return "?";
}

bool RouteQueue::hasRoomFor(size_t bytes) const
{
    if (items_.empty()) return true;
    return items_.size() < limits_.maxMessages && bytes_ + bytes <= limits_.maxBytes;
}

bool RouteQueue::push(MessagePtr message)
{
    size_t bytes = message->size();
    switch (limits_.overflow) {
    case OverflowPolicy::Block:
        break;
    case OverflowPolicy::DropNewest:
        if (!hasRoomFor(bytes)) {
            ++drops_;
            return false;
        }
        break;
    case OverflowPolicy::DropOldest:
        while (!hasRoomFor(bytes)) {
            bytes_ -= items_.front()->size();
            items_.pop_front();
            ++drops_;
        }
        break;
    }
    bytes_ += bytes;
    items_.push_back(std::move(message));
    return true;
}

MessagePtr RouteQueue::pop()
{
    MessagePtr message = std::move(items_.front());
    items_.pop_front();
    bytes_ -= message->size();
    ++popped_;
    poppedBytes_ += message->size();
    if (sourceWaiting_ && items_.size() <= limits_.maxMessages / 2 && bytes_ <= limits_.maxBytes / 2) {
        sourceWaiting_ = false;
        if (onSpace_) onSpace_();
    }
    return message;
}

}  // namespace sockbridge
