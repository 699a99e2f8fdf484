#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "core/h5_file.h"
#include "tests/fuzz/fuzz_target.h"

namespace headlab::fuzz {

std::string input_file(const uint8_t* data, size_t size, const std::string& suffix) {
  const std::string dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/headlab_fuzz_" + std::to_string(::getpid()) + suffix;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw InternalError(path + ": " + std::strerror(errno));
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw InternalError(path + ": write failed");
    }
    done += size_t(n);
  }
  ::close(fd);
  return path;
}

bool run_entry(Entry entry, const uint8_t* data, size_t size) {
  try {
    entry(data, size);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

void use_fuzzing_limits() {
  h5::OpenCheckLimits limits;
  limits.seconds = 2;
  limits.memory_bytes = int64_t(512) << 20;
  h5::set_open_check_limits(limits);
}

}  // namespace headlab::fuzz
