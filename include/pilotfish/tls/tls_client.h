#pragma once
// TLS origination with OpenSSL: a per-cluster client context (verification, SNI, ALPN, client
// certificate), a per-worker session cache (resumption on new connections), and one TLS
// connection over a connected non-blocking socket, driven by the caller's event loop
// (each call says whether it must wait for the socket to become readable or writable).
// Thread-safety: ClientContext is immutable after create() and shared by all workers;
// SessionCache and TlsConnection are worker-local.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pilotfish/config/config.h"
#include "pilotfish/net/socket_address.h"

struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

namespace pilotfish::tls {

class ClientContext {
 public:
  /// Builds the SSL_CTX for a cluster's `tls:` block: TLS 1.2+, the CA bundle (or the system
  /// store), certificate and host-name verification when `verify`, ALPN, optional client
  /// certificate. nullptr with a one-line reason in `error` (e.g. an unreadable ca_file).
  static std::shared_ptr<const ClientContext> create(const config::TlsConfig& cfg,
                                                     std::string* error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  ssl_ctx_st* native() const { return ctx_; }
  const config::TlsConfig& config() const { return cfg_; }

 private:
  ClientContext(ssl_ctx_st* ctx, config::TlsConfig cfg) : ctx_(ctx), cfg_(std::move(cfg)) {}
  ssl_ctx_st* ctx_;
  config::TlsConfig cfg_;
};

/// Resumable sessions by endpoint, for one cluster on one worker. Owns the sessions.
class SessionCache {
 public:
  SessionCache() = default;
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;
  SessionCache(SessionCache&& o) noexcept : sessions_(std::move(o.sessions_)) {}

  /// The session to offer for `key` (borrowed), or nullptr.
  ssl_session_st* get(const net::SocketAddress& key) const;
  /// Stores `session` for `key`, taking ownership (replacing and freeing an older one).
  void put(const net::SocketAddress& key, ssl_session_st* session);
  std::size_t size() const { return sessions_.size(); }

 private:
  struct KeyHash {
    std::size_t operator()(const net::SocketAddress& a) const;
  };
  std::unordered_map<net::SocketAddress, ssl_session_st*, KeyHash> sessions_;
};

/// One client TLS connection over a connected, non-blocking socket (the socket stays owned by
/// the caller and is not closed here).
class TlsConnection {
 public:
  enum class Io { kOk, kWantRead, kWantWrite, kClosed, kError };

  /// `cache` (may be null) offers a stored session for `key` and receives new ones. `sni`
  /// (when not empty) replaces the context's: the name sent and verified (dynamic hosts).
  TlsConnection(const ClientContext& ctx, int fd, SessionCache* cache,
                const net::SocketAddress& key, std::string_view sni = {});
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  /// Drives the handshake: kOk when done; kWantRead/kWantWrite: call again when the socket is
  /// ready; kError: failed (lastError() says why: verification, protocol, reset).
  Io handshake();
  /// Reads up to `n` plaintext bytes into `buf`; `got` is set on kOk. kClosed: close_notify or
  /// EOF. May want a write (renegotiation) or a read.
  Io read(char* buf, std::size_t n, std::size_t& got);
  /// Writes up to `n` bytes; `put` is set on kOk (partial writes are allowed).
  Io write(const char* buf, std::size_t n, std::size_t& put);

  bool resumed() const;
  /// The negotiated ALPN protocol ("" when none).
  std::string alpn() const;
  /// Why the last call failed (OpenSSL's reason and the verification result).
  const std::string& lastError() const { return error_; }

 private:
  Io result(int ret, const char* what);
  ssl_st* ssl_;
  net::SocketAddress key_;
  std::string error_;
};

}  // namespace pilotfish::tls
