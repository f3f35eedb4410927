#include "discovery/http_client.h"
#include "pilotfish/net/close.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>

#include "pilotfish/http/h1_body.h"
#include "pilotfish/http/h1_response_parser.h"
#include "pilotfish/net/socket_address.h"

namespace pilotfish::discovery {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Io = tls::TlsConnection::Io;

const std::string* HttpReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

namespace {

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

class HttpClientImpl final : public HttpClient,
                             public std::enable_shared_from_this<HttpClientImpl> {
 public:
  HttpClientImpl(asio::io_context& io, Options options)
      : opts_(std::move(options)), socket_(io), resolver_(io), timer_(io) {}

  void get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
           std::chrono::milliseconds timeout, Callback cb) override {
    ++gen_;
    cb_ = std::move(cb);
    request_ = "GET " + target + " HTTP/1.1\r\nHost: " + opts_.server.toString() +
               "\r\nUser-Agent: pilotfish\r\nAccept: application/json\r\n";
    for (const auto& [k, v] : headers) request_ += k + ": " + v + "\r\n";
    request_ += "\r\n";
    deadline_ = std::chrono::steady_clock::now() + timeout;
    resent_ = false;
    armTimer(deadline_);
    if (connected_) {
      reused_ = true;
      send();
    } else {
      connect();
    }
  }

  void cancel() override {
    ++gen_;
    cb_ = nullptr;
    close();
    timer_.cancel();
  }

 private:
  // Every handler carries the generation it was started in: a handler of an abandoned request
  // (cancel, timeout, a failure that closed the socket) finds another generation and does
  // nothing.
  template <typename F>
  auto guard(F f) {
    return [self = shared_from_this(), gen = gen_, f = std::move(f)](auto&&... args) mutable {
      if (gen != self->gen_) return;
      f(std::forward<decltype(args)>(args)...);
    };
  }

  void armTimer(std::chrono::steady_clock::time_point at) {
    timer_.expires_at(at);
    timer_.async_wait(guard([this](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or cancelled
      fail(connected_ ? "timed out waiting for the answer" : "connect timed out");
    }));
  }

  void connect() {
    reused_ = false;
    armTimer(std::min(deadline_, std::chrono::steady_clock::now() + opts_.connect_timeout));
    if (opts_.server.isIp()) {
      boost::system::error_code ec;
      auto ip = asio::ip::make_address(opts_.server.host, ec);
      if (ec) return fail("bad address " + opts_.server.host);
      std::array<tcp::endpoint, 1> eps{tcp::endpoint(ip, opts_.server.port)};
      asio::async_connect(socket_, eps,
                          guard([this](const boost::system::error_code& e, const tcp::endpoint&) {
                            onConnected(e);
                          }));
      return;
    }
    resolver_.async_resolve(
        opts_.server.host, std::to_string(opts_.server.port),
        guard([this](const boost::system::error_code& ec, tcp::resolver::results_type results) {
          if (ec) return fail("cannot resolve " + opts_.server.host + ": " + ec.message());
          asio::async_connect(socket_, results,
                              guard([this](const boost::system::error_code& e,
                                           const tcp::endpoint&) { onConnected(e); }));
        }));
  }

  void onConnected(const boost::system::error_code& ec) {
    if (ec) return fail("connect to " + opts_.server.toString() + ": " + ec.message());
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    connected_ = true;
    if (!opts_.tls) {
      armTimer(deadline_);
      return send();
    }
    // TlsConnection drives OpenSSL on the non-blocking descriptor; Asio only says when the
    // socket is ready. The handshake stays under the connect timeout.
    socket_.non_blocking(true, ignored);
    auto key = net::SocketAddress::fromHostPort(
        net::HostPort{socket_.remote_endpoint(ignored).address().to_string(), opts_.server.port,
                      net::HostPort::Kind::kIpv4});
    tls_ = std::make_unique<tls::TlsConnection>(*opts_.tls, socket_.native_handle(), nullptr,
                                                key.value_or(net::SocketAddress{}));
    handshake();
  }

  void handshake() {
    switch (tls_->handshake()) {
      case Io::kOk: armTimer(deadline_); return send();
      case Io::kWantRead: return waitSocket(tcp::socket::wait_read, [this] { handshake(); });
      case Io::kWantWrite: return waitSocket(tcp::socket::wait_write, [this] { handshake(); });
      default:
        return fail("TLS handshake with " + opts_.server.toString() + ": " + tls_->lastError());
    }
  }

  template <typename F>
  void waitSocket(tcp::socket::wait_type type, F next) {
    socket_.async_wait(type, guard([this, next](const boost::system::error_code& ec) mutable {
                         if (ec) return fail("socket: " + ec.message());
                         next();
                       }));
  }

  void send() {
    written_ = 0;
    in_.clear();
    parser_.reset();
    head_.clear();
    head_done_ = false;
    chunked_.reset();
    reply_ = HttpReply{};
    if (!tls_) {
      asio::async_write(socket_, asio::buffer(request_),
                        guard([this](const boost::system::error_code& ec, std::size_t) {
                          if (ec) return brokenBeforeAnswer("write: " + ec.message());
                          receive();
                        }));
      return;
    }
    tlsWrite();
  }

  void tlsWrite() {
    while (written_ < request_.size()) {
      std::size_t put = 0;
      switch (tls_->write(request_.data() + written_, request_.size() - written_, put)) {
        case Io::kOk: written_ += put; continue;
        case Io::kWantRead: return waitSocket(tcp::socket::wait_read, [this] { tlsWrite(); });
        case Io::kWantWrite: return waitSocket(tcp::socket::wait_write, [this] { tlsWrite(); });
        default: return brokenBeforeAnswer("TLS write: " + tls_->lastError());
      }
    }
    receive();
  }

  void receive() {
    if (!tls_) {
      socket_.async_read_some(asio::buffer(buf_),
                              guard([this](const boost::system::error_code& ec, std::size_t n) {
                                if (ec == asio::error::eof) return onEof();
                                if (ec) return brokenBeforeAnswer("read: " + ec.message());
                                onData(n);
                              }));
      return;
    }
    std::size_t got = 0;
    switch (tls_->read(buf_.data(), buf_.size(), got)) {
      case Io::kOk: return onData(got);
      case Io::kClosed: return onEof();
      case Io::kWantRead: return waitSocket(tcp::socket::wait_read, [this] { receive(); });
      case Io::kWantWrite: return waitSocket(tcp::socket::wait_write, [this] { receive(); });
      default: return brokenBeforeAnswer("TLS read: " + tls_->lastError());
    }
  }

  // A kept-alive connection the server closed while idle fails the first write or read with no
  // byte of an answer: that request was never processed, so it is sent once more on a new
  // connection.
  void brokenBeforeAnswer(const std::string& why) {
    if (reused_ && !resent_ && in_.empty() && !head_done_) {
      resent_ = true;
      close();
      return connect();
    }
    fail(why);
  }

  void onEof() {
    if (head_done_ && head_.body_kind == http::H1BodyKind::kUntilClose) {
      reply_.body = std::move(in_);
      keep_alive_ = false;
      return finish();
    }
    brokenBeforeAnswer("connection closed by " + opts_.server.toString() +
                       (in_.empty() && !head_done_ ? "" : " in the middle of the answer"));
  }

  void onData(std::size_t n) {
    in_.append(buf_.data(), n);
    if (!head_done_) {
      auto r = parser_.parse(in_, http::H1Method::kGet, head_);
      if (r.failed()) return fail("unparsable HTTP response head");
      if (r.needMore()) return receive();
      if (head_.interim) {  // 1xx before the answer: skip it
        in_.erase(0, r.consumed);
        parser_.reset();
        head_.clear();
        return in_.empty() ? receive() : onData(0);
      }
      reply_.status = head_.status;
      for (const auto& f : head_.headers) {
        reply_.headers.emplace_back(lowered(f.name), std::string(f.value));
      }
      keep_alive_ = head_.keep_alive;
      head_done_ = true;
      in_.erase(0, r.consumed);  // the head's views are dead from here on
    }
    switch (head_.body_kind) {
      case http::H1BodyKind::kNone: return finish();
      case http::H1BodyKind::kContentLength:
        if (head_.content_length > opts_.max_body) return fail("answer too large");
        if (in_.size() < head_.content_length) return receive();
        reply_.body = in_.substr(0, head_.content_length);
        if (in_.size() > head_.content_length) keep_alive_ = false;  // unasked-for bytes
        return finish();
      case http::H1BodyKind::kChunked: {
        std::string_view rest(in_);
        while (!rest.empty()) {
          auto d = chunked_.decode(rest);
          if (d.failed()) return fail("bad chunked body");
          rest.remove_prefix(d.consumed);
          reply_.body.append(d.data);
          if (reply_.body.size() > opts_.max_body) return fail("answer too large");
          if (d.done) break;
        }
        in_.erase(0, in_.size() - rest.size());
        if (!chunked_.done()) return receive();
        if (!in_.empty()) keep_alive_ = false;
        return finish();
      }
      case http::H1BodyKind::kUntilClose:
        if (in_.size() > opts_.max_body) return fail("answer too large");
        return receive();
    }
  }

  void finish() {
    if (!keep_alive_) close();
    timer_.cancel();
    ++gen_;
    auto cb = std::move(cb_);
    cb_ = nullptr;
    if (cb) cb(std::string(), std::move(reply_));
  }

  void fail(std::string why) {
    close();
    timer_.cancel();
    ++gen_;
    auto cb = std::move(cb_);
    cb_ = nullptr;
    if (cb) cb(std::move(why), HttpReply{});
  }

  void close() {
    tls_.reset();
    resolver_.cancel();
    net::close(socket_);
    connected_ = false;
    in_.clear();
  }

  Options opts_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::unique_ptr<tls::TlsConnection> tls_;
  uint64_t gen_ = 0;
  Callback cb_;
  std::string request_;
  std::size_t written_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  bool connected_ = false;
  bool reused_ = false;
  bool resent_ = false;
  bool keep_alive_ = true;
  bool head_done_ = false;
  std::array<char, 16384> buf_{};
  std::string in_;
  http::H1ResponseParser parser_;
  http::H1ResponseHead head_;
  http::H1ChunkedDecoder chunked_;
  HttpReply reply_;
};

}  // namespace

std::shared_ptr<HttpClient> HttpClient::create(asio::io_context& io, Options options) {
  return std::make_shared<HttpClientImpl>(io, std::move(options));
}

}  // namespace pilotfish::discovery
