// SPDX-License-Identifier: MIT
// OpenSSL contexts and non-blocking sessions: SSL_read/SSL_write with WANT_READ/WANT_WRITE passed on.
#include "core/openssl_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

namespace sockbridge {

namespace {

struct CtxFree {
    void operator()(SSL_CTX *ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
    void operator()(SSL *ssl) const { SSL_free(ssl); }
};

// The oldest error of the queue in words ("certificate verify failed"), and clears the queue.
std::string takeErrors(std::string_view fallback)
{
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return std::string(fallback);
    if (ERR_SYSTEM_ERROR(code)) return std::strerror(ERR_GET_REASON(code));  // a file that cannot be opened
    const char *reason = ERR_reason_error_string(code);
    return reason ? reason : fmt::format("OpenSSL error {:#x}", code);
}

}  // namespace

class OpenSslContext {
public:
    std::unique_ptr<SSL_CTX, CtxFree> ctx;
    TlsSettings settings;
};

namespace {

class OpenSslSession final : public TlsSession {
public:
    OpenSslSession(const OpenSslContext &context, int fd) : ssl_(SSL_new(context.ctx.get())), server_(context.settings.server)
    {
        if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1) {
            failure_ = takeErrors("cannot create a TLS session");
            ssl_.reset();
            return;
        }
        if (server_) {
            SSL_set_accept_state(ssl_.get());
            return;
        }
        SSL_set_connect_state(ssl_.get());
        const std::string &name = context.settings.serverName;
        if (!name.empty()) {
            SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
            // The server's certificate must name this host (or IP address).
            SSL_set_hostflags(ssl_.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(ssl_.get(), name.c_str()) != 1) failure_ = takeErrors("bad server_name");
        }
    }

    Result handshake() override
    {
        if (!ssl_ || !failure_.empty()) return Result::Failed;
        ERR_clear_error();
        int rc = SSL_do_handshake(ssl_.get());
        return rc == 1 ? Result::Done : classify(rc, "the TLS handshake failed");
    }

    Result read(uint8_t *data, size_t size, size_t &done) override
    {
        ERR_clear_error();
        done = 0;
        int rc = SSL_read_ex(ssl_.get(), data, size, &done);
        return rc == 1 ? Result::Done : classify(rc, "TLS read failed");
    }

    Result write(const uint8_t *data, size_t size, size_t &done) override
    {
        ERR_clear_error();
        done = 0;
        int rc = SSL_write_ex(ssl_.get(), data, size, &done);
        return rc == 1 ? Result::Done : classify(rc, "TLS write failed");
    }

    void shutdown() override
    {
        if (!ssl_ || broken_ || !SSL_is_init_finished(ssl_.get())) return;
        ERR_clear_error();
        (void)SSL_shutdown(ssl_.get());  // once: close_notify out; the peer's is not waited for
        ERR_clear_error();
        broken_ = true;  // nothing more goes out after close_notify
    }

    std::string error() const override { return failure_; }

    std::string describe() const override
    {
        std::string text = SSL_get_version(ssl_.get());
        if (X509 *peer = SSL_get1_peer_certificate(ssl_.get())) {
            char subject[256] = "";
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, subject, sizeof(subject));
            text += fmt::format(", peer CN={}", subject);
            X509_free(peer);
        }
        return text;
    }

private:
    Result classify(int rc, std::string_view what)
    {
        switch (SSL_get_error(ssl_.get(), rc)) {
        case SSL_ERROR_WANT_READ: return Result::WantRead;
        case SSL_ERROR_WANT_WRITE: return Result::WantWrite;
        case SSL_ERROR_ZERO_RETURN: return Result::Closed;
        case SSL_ERROR_SYSCALL:
            // EOF without close_notify (SSL_OP_IGNORE_UNEXPECTED_EOF makes most of these ZERO_RETURN).
            if (errno == 0 && ERR_peek_error() == 0) {
                if (SSL_is_init_finished(ssl_.get())) return Result::Closed;
                failure_ = fmt::format("{}: the peer closed the connection", what);
                break;
            }
            failure_ = ERR_peek_error() ? fmt::format("{}: {}", what, takeErrors(""))
                                        : fmt::format("{}: {}", what, std::strerror(errno));
            break;
        default: {
            long verify = SSL_get_verify_result(ssl_.get());
            std::string reason = takeErrors("unknown reason");
            if (verify != X509_V_OK && !SSL_is_init_finished(ssl_.get()))
                reason += fmt::format(" ({})", X509_verify_cert_error_string(verify));
            failure_ = fmt::format("{}: {}", what, reason);
        }
        }
        broken_ = true;
        return Result::Failed;
    }

    std::unique_ptr<SSL, SslFree> ssl_;
    bool server_;
    bool broken_ = false;  // after a fatal error OpenSSL forbids SSL_shutdown
    std::string failure_;
};

bool loadCertificate(SSL_CTX *ctx, const TlsSettings &settings, std::string &error)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, settings.certificate.c_str()) != 1) {
        error = fmt::format("cannot load certificate '{}': {}", settings.certificate, takeErrors("unreadable"));
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, settings.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            error = fmt::format("private key '{}' does not match certificate '{}'", settings.key, settings.certificate);
            return false;
        }
        error = fmt::format("cannot load private key '{}': {}", settings.key, takeErrors("unreadable"));
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        error = fmt::format("private key '{}' does not match certificate '{}'", settings.key, settings.certificate);
        ERR_clear_error();
        return false;
    }
    return true;
}

}  // namespace

std::shared_ptr<OpenSslContext> makeTlsContext(const TlsSettings &settings, std::string &error)
{
    auto context = std::make_shared<OpenSslContext>();
    context->settings = settings;
    context->ctx.reset(SSL_CTX_new(settings.server ? TLS_server_method() : TLS_client_method()));
    SSL_CTX *ctx = context->ctx.get();
    if (!ctx) {
        error = takeErrors("cannot create a TLS context");
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, settings.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    // Partial writes and a buffer that moves between retries: writes come from a growing vector.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    if (!settings.certificate.empty() && !loadCertificate(ctx, settings, error)) return nullptr;
    if (!settings.ca.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, settings.ca.c_str(), nullptr) != 1) {
            error = fmt::format("cannot load CA bundle '{}': {}", settings.ca, takeErrors("unreadable"));
            return nullptr;
        }
        // The CAs a client may choose its certificate by, sent in the CertificateRequest.
        if (settings.server) SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(settings.ca.c_str()));
    } else if (!settings.server && settings.verifyPeer && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        error = fmt::format("cannot load the system's CA certificates: {}", takeErrors("unreadable"));
        return nullptr;
    }
    if (settings.verifyPeer)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (settings.server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
    return context;
}

std::unique_ptr<TlsSession> openTlsSession(const OpenSslContext &context, int fd)
{
    return std::make_unique<OpenSslSession>(context, fd);
}

}  // namespace sockbridge
