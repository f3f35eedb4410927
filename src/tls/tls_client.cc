#include "pilotfish/tls/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <functional>
#include <string_view>

namespace pilotfish::tls {

namespace {

// ex_data slots: the SessionCache and the endpoint key of an SSL, for the new-session callback.
int cacheIndex() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}
int keyIndex() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

// Called on the worker thread inside SSL_connect/SSL_read when the server issues a session
// (TLS 1.3 tickets arrive after the handshake). Returning 1 keeps our reference.
int onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* cache = static_cast<SessionCache*>(SSL_get_ex_data(ssl, cacheIndex()));
  auto* key = static_cast<const net::SocketAddress*>(SSL_get_ex_data(ssl, keyIndex()));
  if (cache == nullptr || key == nullptr) return 0;
  cache->put(*key, session);
  return 1;
}

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string wireAlpn(const std::vector<std::string>& protos) {
  std::string wire;
  for (const auto& p : protos) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

}  // namespace

std::shared_ptr<const ClientContext> ClientContext::create(const config::TlsConfig& cfg,
                                                           std::string* error) {
  auto fail = [&](const std::string& what) -> std::shared_ptr<const ClientContext> {
    if (error != nullptr) *error = what + (ERR_peek_error() ? ": " + opensslErrors() : "");
    ERR_clear_error();
    return nullptr;
  };
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return fail("SSL_CTX_new failed");
  std::shared_ptr<const ClientContext> out(new ClientContext(ctx, cfg));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Sessions are kept per worker and endpoint by SessionCache, not in OpenSSL's shared cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, onNewSession);
  if (cfg.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!cfg.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1) {
        return fail("cannot load ca_file " + cfg.ca_file);
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return fail("cannot load the system CA store");
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.alpn.empty()) {
    std::string wire = wireAlpn(cfg.alpn);
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      return fail("invalid alpn list");
    }
  }
  if (!cfg.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1) {
      return fail("cannot load cert_file " + cfg.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return fail("cannot load key_file " + cfg.key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return fail("key_file does not match cert_file");
    }
  }
  return out;
}

ClientContext::~ClientContext() {
  SSL_CTX_free(ctx_);
}

std::size_t SessionCache::KeyHash::operator()(const net::SocketAddress& a) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(&a.storage), a.length));
}

SessionCache::~SessionCache() {
  for (auto& [key, s] : sessions_) SSL_SESSION_free(s);
}

ssl_session_st* SessionCache::get(const net::SocketAddress& key) const {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : it->second;
}

void SessionCache::put(const net::SocketAddress& key, ssl_session_st* session) {
  auto [it, inserted] = sessions_.try_emplace(key, session);
  if (!inserted) {
    if (it->second != session) SSL_SESSION_free(it->second);
    it->second = session;
  }
}

TlsConnection::TlsConnection(const ClientContext& ctx, int fd, SessionCache* cache,
                             const net::SocketAddress& key, std::string_view sni_override)
    : ssl_(SSL_new(ctx.native())), key_(key) {
  if (ssl_ == nullptr) return;
  SSL_set_fd(ssl_, fd);  // a socket BIO without BIO_CLOSE: the fd stays the caller's
  SSL_set_connect_state(ssl_);
  const auto& cfg = ctx.config();
  const std::string sni = sni_override.empty() ? cfg.sni : std::string(sni_override);
  if (!sni.empty()) {
    SSL_set_tlsext_host_name(ssl_, sni.c_str());
    if (cfg.verify) {
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl_, sni.c_str());
    }
  }
  if (cache != nullptr) {
    SSL_set_ex_data(ssl_, cacheIndex(), cache);
    SSL_set_ex_data(ssl_, keyIndex(), &key_);  // our own copy: lives as long as the SSL
    if (SSL_SESSION* s = cache->get(key)) SSL_set_session(ssl_, s);
  }
}

TlsConnection::~TlsConnection() {
  if (ssl_ == nullptr) return;
  // Freeing an SSL that was not shut down marks its session not resumable, and the session
  // object is shared with SessionCache: mark it shut down (quietly, nothing is sent; the socket
  // is closed by its owner) so closing a connection does not spoil resumption.
  SSL_set_quiet_shutdown(ssl_, 1);
  SSL_shutdown(ssl_);
  SSL_free(ssl_);
}

TlsConnection::Io TlsConnection::result(int ret, const char* what) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return Io::kWantRead;
    case SSL_ERROR_WANT_WRITE: return Io::kWantWrite;
    case SSL_ERROR_ZERO_RETURN: return Io::kClosed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        error_ = std::string(what) + ": connection closed or reset";
        ERR_clear_error();
        return errno == 0 ? Io::kClosed : Io::kError;
      }
      [[fallthrough]];
    default: {
      error_ = std::string(what) + ": " + opensslErrors();
      long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK) {
        error_ += " (certificate: ";
        error_ += X509_verify_cert_error_string(v);
        error_ += ")";
      }
      ERR_clear_error();
      return Io::kError;
    }
  }
}

TlsConnection::Io TlsConnection::handshake() {
  if (ssl_ == nullptr) {
    error_ = "SSL_new failed";
    return Io::kError;
  }
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  return r == 1 ? Io::kOk : result(r, "handshake");
}

TlsConnection::Io TlsConnection::read(char* buf, std::size_t n, std::size_t& got) {
  ERR_clear_error();
  errno = 0;
  std::size_t done = 0;
  int r = SSL_read_ex(ssl_, buf, n, &done);
  if (r == 1) {
    got = done;
    return Io::kOk;
  }
  return result(r, "read");
}

TlsConnection::Io TlsConnection::write(const char* buf, std::size_t n, std::size_t& put) {
  ERR_clear_error();
  errno = 0;
  std::size_t done = 0;
  int r = SSL_write_ex(ssl_, buf, n, &done);
  if (r == 1) {
    put = done;
    return Io::kOk;
  }
  return result(r, "write");
}

bool TlsConnection::resumed() const {
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

std::string TlsConnection::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), len);
}

}  // namespace pilotfish::tls
