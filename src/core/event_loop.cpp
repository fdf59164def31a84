// SPDX-License-Identifier: MIT
// Picks the event loop implementation.
#include "core/event_loop.h"

#include <cstdlib>
#include <cstring>

#include "build_config.h"

namespace sockbridge {

std::unique_ptr<EventLoop> EventLoop::create()
{
    const char *forced = std::getenv("SOCKBRIDGE_LOOP");
    if (HAVE_SYSTEMD && !(forced && std::strcmp(forced, "epoll") == 0)) return makeSdEventLoop();
    return makeEpollEventLoop();
}

#if !HAVE_SYSTEMD
std::unique_ptr<EventLoop> makeSdEventLoop() { return makeEpollEventLoop(); }
#endif

}  // namespace sockbridge
