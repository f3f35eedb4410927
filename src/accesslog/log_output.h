#pragma once
// The access log's output file descriptor. Private to src/accesslog.
// Writer-thread only (created before the thread starts, then used by it alone).
//
// A file path is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC|O_NONBLOCK, mode 0640 (less the
// umask). O_NONBLOCK has no effect on regular files; on a FIFO it turns "nobody reads" into
// EAGAIN, which the writer waits out with poll() and can abandon on stop.
// "stdout": when fd 1 is a pipe it is reopened through /proc/self/fd/1 to get a private,
// non-blocking open file description (setting O_NONBLOCK on fd 1 itself would change it for
// every process sharing it); otherwise fd 1 is duplicated. Sockets are written with
// send(MSG_DONTWAIT | MSG_NOSIGNAL).

#include <sys/types.h>

#include <memory>
#include <string>

namespace pilotfish::accesslog {

class LogOutput {
 public:
  /// Opens `path` ("stdout" or a file path). nullptr and *error set on failure.
  static std::unique_ptr<LogOutput> open(const std::string& path, std::string* error);

  ~LogOutput();
  LogOutput(const LogOutput&) = delete;
  LogOutput& operator=(const LogOutput&) = delete;

  /// One write(2)/send(2) call: bytes written, or -1 with errno set.
  ssize_t write(const char* data, std::size_t n);

  /// Files only: opens the path again and, on success, replaces the descriptor. On failure
  /// keeps the old one and returns false with *err = errno. True (no-op) for stdout.
  bool reopen(int* err);

  int fd() const { return fd_; }
  bool isStdout() const { return stdout_; }
  const std::string& path() const { return path_; }

 private:
  LogOutput(std::string path, int fd, bool is_stdout, bool is_socket)
      : path_(std::move(path)), fd_(fd), stdout_(is_stdout), socket_(is_socket) {}

  std::string path_;
  int fd_;
  bool stdout_;
  bool socket_;
};

}  // namespace pilotfish::accesslog
