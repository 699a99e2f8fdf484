// Whether this build runs under a sanitizer that reserves terabytes of shadow address space
// (AddressSanitizer, ThreadSanitizer). Address-space limits (`ulimit -v`, RLIMIT_AS) cannot be set
// under them, and their allocators add to the resident set in proportion to what is allocated and
// freed, so memory bounds are only measurable without them.
#pragma once

namespace headlab {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderShadowSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kUnderShadowSanitizer = true;
#else
inline constexpr bool kUnderShadowSanitizer = false;
#endif
#else
inline constexpr bool kUnderShadowSanitizer = false;
#endif

}  // namespace headlab
