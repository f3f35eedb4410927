#pragma once
// The admin HTTP listener (default 127.0.0.1:9901) on the control thread. Deliberately small:
// HTTP/1.1, one request per connection, GET/HEAD only for read endpoints, bounded request head
// (8 KiB) and a read deadline. Adding an endpoint is one addHandler() call.
// Thread: control thread only.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <system_error>

#include "pilotfish/net/socket_address.h"

namespace pilotfish::admin {

struct Request {
  std::string method;
  std::string path;   ///< without the query
  std::string query;  ///< after '?', undecoded
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  using Handler = std::function<Response(const Request&)>;

  explicit AdminServer(boost::asio::io_context& io);

  /// Registers `handler` for exact `path`. `methods` lists what it accepts (e.g. "GET,HEAD");
  /// anything else gets 405 with an Allow header.
  void addHandler(std::string path, std::string methods, std::string help, Handler handler);

  std::error_code listen(const net::SocketAddress& address, std::string* why);
  void stop();

  /// Maximum size of a request head; larger gets 431.
  static constexpr std::size_t kMaxHead = 8 * 1024;

 private:
  struct Route {
    std::string methods;
    std::string help;
    Handler handler;
  };
  class Connection;

  void acceptOne();
  Response dispatch(const Request& req, std::string* allow) const;

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::map<std::string, Route> routes_;
  std::set<Connection*> live_;  // open connections, closed by stop()
};

}  // namespace pilotfish::admin
