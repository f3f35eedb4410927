#include "pilotfish/admin/admin_server.h"
#include "pilotfish/net/close.h"

#include <spdlog/spdlog.h>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <cctype>
#include <cstring>
#include <memory>
#include <optional>

namespace pilotfish::admin {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

bool tokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Parses the request line of `head`. Only origin-form targets are accepted.
bool parseRequestLine(std::string_view head, Request& req) {
  auto eol = head.find("\r\n");
  if (eol == std::string_view::npos) return false;
  auto line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!tokenChar(c)) return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  if (target.empty() || target[0] != '/') return false;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  req.method = std::string(method);
  auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  req.query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
  return true;
}

// The value (without surrounding whitespace) of the first header field named `name` (lower
// case) in `head`, request line first; nullopt when there is none.
std::optional<std::string_view> fieldValue(std::string_view head, std::string_view name) {
  std::size_t at = head.find("\r\n");
  while (at != std::string_view::npos) {
    at += 2;
    const std::size_t eol = head.find("\r\n", at);
    if (eol == std::string_view::npos || eol == at) return std::nullopt;
    std::string_view line = head.substr(at, eol - at);
    const std::size_t colon = line.find(':');
    bool same = colon == name.size();
    for (std::size_t i = 0; same && i < colon; ++i) {
      same = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
    }
    if (same) {
      line.remove_prefix(colon + 1);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
      return line;
    }
    at = eol;
  }
  return std::nullopt;
}

// A request a web page made the browser send: cross-site (Sec-Fetch-Site), or with an Origin
// that is not this server's own (Origin's authority differs from Host). Typing the URL into the
// address bar (Sec-Fetch-Site: none) and pages the admin serves itself (same-origin) pass.
bool fromAnotherSite(std::string_view head) {
  if (auto site = fieldValue(head, "sec-fetch-site")) {
    if (*site == "cross-site" || *site == "same-site") return true;
  }
  if (auto origin = fieldValue(head, "origin")) {
    const std::string_view host = fieldValue(head, "host").value_or("");
    std::string_view authority = *origin;
    const std::size_t scheme = authority.find("://");
    if (scheme == std::string_view::npos) return true;  // "null" and other opaque origins
    authority.remove_prefix(scheme + 3);
    return authority.empty() || authority != host;
  }
  return false;
}

}  // namespace

class AdminServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(AdminServer& server, tcp::socket&& s)
      : server_(server),
        socket_(std::move(s)),
        timer_(socket_.get_executor()),
        buf_(kMaxHead + 4) {}

  void start() {
    server_.live_.insert(this);
    timer_.expires_after(std::chrono::seconds(10));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->reply(Response{408, "text/plain; charset=utf-8", "request timeout\n"}, "");
    });
    asio::async_read_until(socket_, buf_, "\r\n\r\n",
                           [self = shared_from_this()](boost::system::error_code ec,
                                                       std::size_t n) { self->onHead(ec, n); });
  }

 private:
  void onHead(boost::system::error_code ec, std::size_t n) {
    if (done_) return;
    if (ec == asio::error::not_found) {
      reply(Response{431, "text/plain; charset=utf-8", "request head too large\n"}, "");
      return;
    }
    if (ec) {
      finish();
      return;
    }
    std::string head(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + n);
    Request req;
    if (!parseRequestLine(head, req)) {
      reply(Response{400, "text/plain; charset=utf-8", "bad request\n"}, "");
      return;
    }
    std::string allow;
    Response resp;
    // A web page open in the operator's browser can send requests to 127.0.0.1:9901 too (a
    // POST /logging needs no CORS preflight). Browsers mark those with Sec-Fetch-Site and
    // Origin; curl, Prometheus and kubectl send neither. They are refused, whatever the method.
    if (fromAnotherSite(head)) {
      SPDLOG_WARN("admin: refused {} {} sent by a web page of another site", req.method, req.path);
      reply(Response{403, "text/plain; charset=utf-8",
                     "requests from web pages of other sites are refused\n"},
            "");
      return;
    }
    try {
      resp = server_.dispatch(req, &allow);
    } catch (const std::exception& e) {
      SPDLOG_ERROR("admin {}: {}", req.path, e.what());
      resp = Response{500, "text/plain; charset=utf-8", "internal error\n"};
    }
    head_only_ = req.method == "HEAD";
    reply(std::move(resp), allow);
  }

  void reply(Response resp, const std::string& allow) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    out_ = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) + "\r\n";
    out_ += "Content-Type: " + resp.content_type + "\r\n";
    out_ += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
    out_ += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
    if (!allow.empty()) out_ += "Allow: " + allow + "\r\n";
    out_ += "Connection: close\r\n\r\n";
    if (!head_only_) out_ += resp.body;
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](boost::system::error_code, std::size_t) { self->finish(); });
  }

 public:
  /// Cancels everything pending; the connection is released when its handlers have run.
  void finish() {
    server_.live_.erase(this);
    done_ = true;
    timer_.cancel();
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    net::close(socket_);
  }

 private:
  AdminServer& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf buf_;
  std::string out_;
  bool done_ = false;
  bool head_only_ = false;
};

AdminServer::AdminServer(asio::io_context& io) : io_(io), acceptor_(io) {
  addHandler("/", "GET,HEAD", "this list", [this](const Request&) {
    Response r;
    for (const auto& [path, route] : routes_) r.body += path + "  " + route.help + "\n";
    return r;
  });
}

void AdminServer::addHandler(std::string path, std::string methods, std::string help,
                             Handler handler) {
  routes_[std::move(path)] = Route{std::move(methods), std::move(help), std::move(handler)};
}

Response AdminServer::dispatch(const Request& req, std::string* allow) const {
  auto it = routes_.find(req.path);
  if (it == routes_.end()) return Response{404, "text/plain; charset=utf-8", "not found\n"};
  const auto& methods = it->second.methods;
  bool ok = false;
  std::size_t pos = 0;
  while (pos <= methods.size()) {
    auto comma = methods.find(',', pos);
    auto m = methods.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (m == req.method) ok = true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (!ok) {
    *allow = methods;
    return Response{405, "text/plain; charset=utf-8", "method not allowed\n"};
  }
  return it->second.handler(req);
}

std::error_code AdminServer::listen(const net::SocketAddress& address, std::string* why) {
  tcp::endpoint ep;
  std::memcpy(ep.data(), address.data(), address.length);
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    if (why) *why = "admin: cannot listen on " + address.toString() + ": " + ec.message();
    return std::error_code(ec.value(), std::generic_category());
  }
  acceptOne();
  return {};
}

void AdminServer::stop() {
  net::close(acceptor_);
  auto live = live_;  // finish() erases from live_
  for (auto* c : live) c->finish();
}

void AdminServer::acceptOne() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
    // Closed: aborted, or (io_uring build, net::close) failed on the placeholder.
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) std::make_shared<Connection>(*this, std::move(s))->start();
    if (ec) {
      // Descriptor exhaustion etc.: retry shortly instead of spinning.
      auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      t->async_wait([this, t](boost::system::error_code) { acceptOne(); });
      return;
    }
    acceptOne();
  });
}

}  // namespace pilotfish::admin
