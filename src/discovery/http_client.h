#pragma once
// A small asynchronous HTTP/1.1 client for discovery stores that speak HTTP (Consul): one GET at
// a time over one kept-alive connection, plaintext or TLS (tls::TlsConnection over the Asio
// socket), with a deadline per request. Responses are parsed strictly (H1ResponseParser,
// H1ChunkedDecoder) and bounded in size.
// Thread-safety: control thread only (the io_context given at creation). Owned by shared_ptr:
// pending handlers keep it alive; cancel() makes them harmless. Abstract only to keep Asio's
// socket types out of this header.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "pilotfish/net/address.h"
#include "pilotfish/tls/tls_client.h"

namespace pilotfish::discovery {

struct HttpReply {
  uint16_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased
  std::string body;
  /// The first value of header `name` (lower-case), or nullptr.
  const std::string* header(std::string_view name) const;
};

class HttpClient {
 public:
  struct Options {
    net::HostPort server;  ///< an IP literal or a name (resolved on each new connection)
    std::shared_ptr<const tls::ClientContext> tls;  ///< null: plaintext
    std::chrono::milliseconds connect_timeout{2000};
    std::size_t max_body = 64u << 20;
  };
  /// `error` is empty on success (any status), else one line saying why there is no reply.
  using Callback = std::function<void(std::string error, HttpReply reply)>;

  static std::shared_ptr<HttpClient> create(boost::asio::io_context& io, Options options);
  virtual ~HttpClient() = default;

  /// Sends `GET target` with `headers` (name, value) and calls `cb` once on the io_context with
  /// the reply, unless cancel() comes first. Everything (connecting included) must finish within
  /// `timeout`. One request at a time: a get() while another is in flight cancels that one.
  virtual void get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
                   std::chrono::milliseconds timeout, Callback cb) = 0;
  /// Abandons the request in flight (its callback never runs) and closes the connection.
  virtual void cancel() = 0;
};

}  // namespace pilotfish::discovery
