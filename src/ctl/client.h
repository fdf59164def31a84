// SPDX-License-Identifier: MIT
// ControlClient: one connection to sockbridged's control socket, newline-delimited JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/unique_fd.h"

namespace sockbridge {

// What sockbridgectl prints before exiting non-zero.
class CtlError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ControlClient {
public:
    // Connects; throws CtlError "Failed to connect to 'PATH': WHY (is sockbridged running?)".
    explicit ControlClient(const std::string &path);

    // Sends one request and returns the answer; throws CtlError on a broken connection, a
    // timeout, or an answer with "ok": false (its "error" is the message).
    nlohmann::json request(const nlohmann::json &request, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // The next line from the daemon (a tap event); nullopt at EOF. timeout < 0 waits forever.
    std::optional<nlohmann::json> next(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));

private:
    std::optional<std::string> readLine(std::chrono::milliseconds timeout);

    std::string path_;
    UniqueFd fd_;
    std::string buffer_;
};

}  // namespace sockbridge
