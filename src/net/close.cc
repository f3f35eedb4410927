#include "pilotfish/net/close.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <utility>

namespace pilotfish::net {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// One /dev/null descriptor for the whole process: dup3 copies it over each closed number.
int devNull() {
  static const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  return fd;
}

// The placeholders of one io_context, closed kQuarantine after they were put in place. A
// service of the io_context, so that it lives exactly as long as the io_context does (its
// timer is created in its constructor, so the timer service outlives it).
class Quarantine : public asio::execution_context::service {
 public:
  using key_type = Quarantine;
  static inline asio::execution_context::id id;

  explicit Quarantine(asio::execution_context& context)
      : service(context), timer_(static_cast<asio::io_context&>(context)) {}
  ~Quarantine() override { closeAll(); }

  void add(int fd) {
    held_.emplace_back(fd, Clock::now() + kQuarantine);
    if (!armed_) arm();
  }
  std::size_t size() const { return held_.size(); }

 private:
  void shutdown() override {
    timer_.cancel();
    closeAll();
  }
  void closeAll() {
    for (auto& [fd, until] : held_) ::close(fd);
    held_.clear();
  }
  void arm() {
    armed_ = true;
    timer_.expires_at(held_.front().second);
    timer_.async_wait([this](boost::system::error_code ec) {
      armed_ = false;
      if (ec) return;
      const auto now = Clock::now();
      while (!held_.empty() && held_.front().second <= now) {
        ::close(held_.front().first);
        held_.pop_front();
      }
      if (!held_.empty()) arm();
    });
  }

  asio::steady_timer timer_;
  std::deque<std::pair<int, Clock::time_point>> held_;
  bool armed_ = false;
};

}  // namespace

bool closeQuarantines() noexcept {
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
  return true;
#else
  return false;
#endif
}

void retireReleased(asio::execution_context& context, int fd) {
  if (fd < 0) return;
  const int placeholder = devNull();
  // dup3 closes the socket's own reference (FIN, or RST with SO_LINGER 0) and puts /dev/null
  // at its number in one step, so that no other descriptor can get that number meanwhile.
  if (placeholder < 0 || ::dup3(placeholder, fd, O_CLOEXEC) < 0) {
    ::close(fd);
    return;
  }
  asio::use_service<Quarantine>(context).add(fd);
}

std::size_t quarantined(asio::execution_context& context) {
  return asio::has_service<Quarantine>(context) ? asio::use_service<Quarantine>(context).size() : 0;
}

}  // namespace pilotfish::net
