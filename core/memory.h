// Memory checks: an allocation that cannot succeed is refused up front, naming the input that
// asked for it, instead of ending in std::bad_alloc or the kernel's OOM killer.
#pragma once
#include <string>

namespace headlab {

// Bytes this process can hope to allocate: physical memory, or less under `ulimit -v`.
double usable_memory_bytes();
// InputError(what, "<purpose> needs about N GiB of memory; this machine has M GiB") when `bytes`
// exceed usable_memory_bytes().
void require_memory(double bytes, const std::string& what, const std::string& purpose);

}  // namespace headlab
