// SPDX-License-Identifier: MIT
// ControlClient: connects, writes a request line, reads answer and event lines.
#include "ctl/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

namespace sockbridge {

namespace {

std::string hintFor(int error)
{
    switch (error) {
    case ENOENT:
    case ECONNREFUSED: return " (is sockbridged running?)";
    case EACCES:
    case EPERM: return " (is your user in the control socket's group?)";
    default: return "";
    }
}

}  // namespace

ControlClient::ControlClient(const std::string &path) : path_(path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path))
        throw CtlError(fmt::format("Failed to connect to '{}': not a valid socket path", path));
    std::memcpy(address.sun_path, path.data(), path.size());
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_ || ::connect(fd_.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
        int error = errno;
        throw CtlError(fmt::format("Failed to connect to '{}': {}{}", path, std::strerror(error), hintFor(error)));
    }
}

nlohmann::json ControlClient::request(const nlohmann::json &request, std::chrono::milliseconds timeout)
{
    std::string line = request.dump() + "\n";
    for (size_t sent = 0; sent < line.size();) {
        ssize_t n = ::send(fd_.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw CtlError(fmt::format("Failed to send to '{}': {}", path_, std::strerror(errno)));
        }
        sent += size_t(n);
    }
    std::optional<std::string> answer = readLine(timeout);
    if (!answer) throw CtlError(fmt::format("Failed to read from '{}': sockbridged closed the connection", path_));
    nlohmann::json value = nlohmann::json::parse(*answer, nullptr, false);
    if (value.is_discarded() || !value.is_object())
        throw CtlError(fmt::format("Failed to read from '{}': not a JSON answer: {}", path_, answer->substr(0, 200)));
    if (!value.value("ok", false)) {
        // A refused reload carries its errors; callers that want them catch nothing and look.
        if (value.contains("errors") && !value["errors"].empty()) return value;
        throw CtlError(value.value("error", std::string("the daemon refused the request")));
    }
    return value;
}

std::optional<nlohmann::json> ControlClient::next(std::chrono::milliseconds timeout)
{
    std::optional<std::string> line = readLine(timeout);
    if (!line) return std::nullopt;
    nlohmann::json value = nlohmann::json::parse(*line, nullptr, false);
    if (value.is_discarded()) throw CtlError(fmt::format("Failed to read from '{}': not JSON: {}", path_, line->substr(0, 200)));
    return value;
}

std::optional<std::string> ControlClient::readLine(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (size_t end = buffer_.find('\n'); end != std::string::npos) {
            std::string line = buffer_.substr(0, end);
            buffer_.erase(0, end + 1);
            return line;
        }
        int wait = -1;
        if (timeout.count() >= 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) throw CtlError(fmt::format("Timed out waiting for an answer from '{}'", path_));
            wait = int(left.count());
        }
        pollfd p{fd_.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, wait);
        if (ready < 0) {
            if (errno == EINTR) continue;
            throw CtlError(fmt::format("Failed to read from '{}': {}", path_, std::strerror(errno)));
        }
        if (ready == 0) continue;  // the deadline check above reports it
        char chunk[65536];
        ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw CtlError(fmt::format("Failed to read from '{}': {}", path_, std::strerror(errno)));
        }
        if (n == 0) return std::nullopt;
        buffer_.append(chunk, size_t(n));
    }
}

}  // namespace sockbridge
