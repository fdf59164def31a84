// SPDX-License-Identifier: MIT
// TlsSession: what a stream connection needs of TLS, without naming the library (OpenSSL) behind it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sockbridge {

// One TLS session over one non-blocking socket. No call blocks: each does what the socket allows
// now and says what it waits for.
class TlsSession {
public:
    enum class Result {
        Done,       // finished (read/write: `done` bytes moved)
        WantRead,   // call again when the socket is readable
        WantWrite,  // call again when the socket is writable
        Closed,     // read: the peer ended the session (close_notify, or EOF)
        Failed,     // error() says why; the session is unusable
    };

    virtual ~TlsSession() = default;
    virtual Result handshake() = 0;
    virtual Result read(uint8_t *data, size_t size, size_t &done) = 0;
    // `data` may move between a WantRead/WantWrite and the retry; it must begin with the same bytes.
    virtual Result write(const uint8_t *data, size_t size, size_t &done) = 0;
    // Sends close_notify if the socket takes it now; never waits for the peer's.
    virtual void shutdown() = 0;
    // Why the last call Failed: the library's reason, or the certificate check's.
    virtual std::string error() const = 0;
    // After the handshake: "TLSv1.3, peer CN=client1" for the connect log.
    virtual std::string describe() const = 0;
};

// Makes the session for a connected (or connecting) socket; set on stream listeners with `tls:`.
struct TlsEndpoint {
    std::function<std::unique_ptr<TlsSession>(int fd)> open;
    std::chrono::nanoseconds handshakeTimeout = std::chrono::seconds(10);
};

}  // namespace sockbridge
