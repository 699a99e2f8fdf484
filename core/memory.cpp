#include "core/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "core/errors.h"

namespace headlab {
namespace {
std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g GiB", bytes / double(int64_t(1) << 30));
  return buf;
}
}  // namespace

double usable_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  double limit = pages > 0 && page > 0 ? double(pages) * double(page) : 0;
  struct rlimit as;
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    limit = limit > 0 ? std::min(limit, double(as.rlim_cur)) : double(as.rlim_cur);
  return limit;
}

void require_memory(double bytes, const std::string& what, const std::string& purpose) {
  const double usable = usable_memory_bytes();
  if (usable > 0 && bytes > usable)
    throw InputError(what, purpose + " needs about " + gib(bytes) + " of memory; this machine has " + gib(usable));
}

}  // namespace headlab
