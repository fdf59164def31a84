// SPDX-License-Identifier: MIT
// Endpoint input queues and Listener emission.
#include "core/listener.h"

#include <fmt/core.h>

#include <algorithm>

namespace sockbridge {

Endpoint::Endpoint(std::string name, EventLoop &loop)
    : name_(std::move(name)), loop_(loop), drainSoon_(loop.makeDeferred([this] { drain(); }))
{
}

Endpoint::~Endpoint() = default;

void Endpoint::addInput(RouteQueue *queue) { inputs_.push_back(queue); }

void Endpoint::removeInput(RouteQueue *queue)
{
    std::erase(inputs_, queue);
    nextInput_ = 0;
}

bool Endpoint::hasInput() const
{
    return std::any_of(inputs_.begin(), inputs_.end(), [](const RouteQueue *q) { return !q->empty(); });
}

MessagePtr Endpoint::nextInput()
{
    for (size_t tried = 0; tried < inputs_.size(); ++tried) {
        RouteQueue *queue = inputs_[nextInput_];
        nextInput_ = (nextInput_ + 1) % inputs_.size();
        if (!queue->empty()) return queue->pop();
    }
    return nullptr;
}

void Listener::adoptSocket(UniqueFd)
{
    throw StartupError(fmt::format("Failed to use the socket from systemd for listener '{}': its kind cannot take one",
                                   name()));
}

void Listener::emit(Message &&message) { emit(std::make_shared<Message>(std::move(message))); }

void Listener::emit(std::shared_ptr<Message> message)
{
    message->source = name();
    counters().countIn(message->size());
    if (router_) router_->deliver(*this, std::move(message));
}

}  // namespace sockbridge
