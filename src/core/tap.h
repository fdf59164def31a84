// SPDX-License-Identifier: MIT
// TapObserver: how the control socket sees a listener's messages without touching the routes.
#pragma once

#include "core/message.h"

namespace sockbridge {

class Listener;

// Called by the Manager for each message a listener emits, on the data path: it must only queue
// (boundedly) and return, never write or block.
class TapObserver {
public:
    virtual ~TapObserver() = default;
    virtual void observe(const Listener &source, const MessagePtr &message) = 0;
};

}  // namespace sockbridge
