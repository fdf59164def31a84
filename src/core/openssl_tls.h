// SPDX-License-Identifier: MIT
// OpenSSL contexts for tcp listeners with `tls:`: certificates, verification, sessions.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/tls_session.h"

namespace sockbridge {

struct TlsSettings {
    bool server = true;        // listen: accept TLS clients; connect: be a TLS client
    std::string certificate;   // PEM chain (server: required; client: sent when asked)
    std::string key;           // PEM private key of `certificate`
    std::string ca;            // PEM bundle the peer's certificate must chain to ("": system's, client side)
    bool verifyPeer = false;   // server: require a client certificate; client: check the server's
    std::string serverName;    // client: SNI and the name the server's certificate must carry
    std::string minVersion = "1.2";
};

class OpenSslContext;

// Loads certificates and keys now, so a bad file is a config error. Returns nullptr and sets
// `error` ("cannot load certificate '/x': no start line") when it cannot.
std::shared_ptr<OpenSslContext> makeTlsContext(const TlsSettings &settings, std::string &error);
// A session of `context` on `fd` (the socket stays the caller's).
std::unique_ptr<TlsSession> openTlsSession(const OpenSslContext &context, int fd);

}  // namespace sockbridge
