// SPDX-License-Identifier: MIT
// socketcand's BCM mode: each command as the CAN_BCM request it maps to, and the lines it prints.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bcm_message.h"

namespace sockbridge::socketcand {

struct BcmCommand {
    BcmRequest request;       // for the session's CAN_BCM socket
    bool transmits = false;   // add, update: a transmit job, only on a bus the session may write
    bool retryAsFd = false;   // delete, unsubscribe: the kernel keeps CAN FD jobs apart
};

// add, update, delete, filter, muxfilter, subscribe, unsubscribe (and, with `fd`, the CAN FD
// forms fdadd, fdupdate, fdfilter, fdsubscribe).
bool isBcmCommand(std::string_view verb);

// The request socketcand's state_bcm.c writes for the command in `words` (words[0] the verb);
// nullopt with `why` for a malformed one (socketcand ignores those; we answer them).
std::optional<BcmCommand> parseBcmCommand(const std::vector<std::string_view> &words, bool fd, std::string &why);

// What a session's CAN_BCM socket reported, as socketcand's BCM mode sends it: RX_CHANGED as
// "< frame 123 1700000000.123456 11 22  >" (bytes spaced, as state_bcm.c prints them), an
// error frame as "< error 004 1700000000.123456 00 08 ... >", a CAN FD frame (with `fd`) as
// "< fdframe ... >". nullopt for anything else (TX_EXPIRED, RX_TIMEOUT: no job asks for them).
std::optional<std::string> bcmLine(const BcmEvent &event, int64_t timestampNs, bool fd);

}  // namespace sockbridge::socketcand
