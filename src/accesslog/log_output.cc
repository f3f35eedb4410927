#include "accesslog/log_output.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "pilotfish/accesslog/access_log_config.h"

namespace pilotfish::accesslog {

namespace {

constexpr int kFileFlags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
constexpr mode_t kFileMode = 0640;

int openFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), kFileFlags, kFileMode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

std::string describeOpenError(const std::string& path, int err) {
  std::string why = "cannot open access log \"" + path + "\": " + std::strerror(err);
  if (err == ENXIO) why += " (a FIFO needs a reader before pilotfish starts)";
  return why;
}

}  // namespace

std::unique_ptr<LogOutput> LogOutput::open(const std::string& path, std::string* error) {
  if (path == kStdoutPath) {
    struct stat st {};
    if (::fstat(STDOUT_FILENO, &st) != 0) {
      if (error) *error = std::string("access log: stdout is not open: ") + std::strerror(errno);
      return nullptr;
    }
    int fd = -1;
    if (S_ISFIFO(st.st_mode)) {
      // A new open file description of the same pipe, private to us, so O_NONBLOCK is ours.
      fd = ::open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      struct stat st2 {};
      if (fd >= 0 &&
          (::fstat(fd, &st2) != 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)) {
        ::close(fd);
        fd = -1;
      }
    }
    if (fd < 0) fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      if (error)
        *error = std::string("access log: cannot duplicate stdout: ") + std::strerror(errno);
      return nullptr;
    }
    return std::unique_ptr<LogOutput>(new LogOutput(path, fd, true, S_ISSOCK(st.st_mode)));
  }
  int fd = openFile(path);
  if (fd < 0) {
    if (error) *error = describeOpenError(path, errno);
    return nullptr;
  }
  struct stat st {};
  bool is_socket = ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  return std::unique_ptr<LogOutput>(new LogOutput(path, fd, false, is_socket));
}

LogOutput::~LogOutput() {
  if (fd_ >= 0) ::close(fd_);
}

ssize_t LogOutput::write(const char* data, std::size_t n) {
  if (socket_) return ::send(fd_, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  return ::write(fd_, data, n);
}

bool LogOutput::reopen(int* err) {
  if (stdout_) return true;
  int fd = openFile(path_);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  struct stat st {};
  socket_ = ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  ::close(fd_);
  fd_ = fd;
  return true;
}

}  // namespace pilotfish::accesslog
