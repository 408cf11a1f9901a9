// rss.h — resident memory of this process (VmRSS from /proc/self/status),
// for the reliability tests' "memory flat" checks.
#ifndef FKM_RELIABILITY_RSS_H
#define FKM_RELIABILITY_RSS_H
#include <cstdio>
#include <cstring>

namespace fkmrel {

// Resident set size in KiB, or -1 when /proc is not readable.
inline long rss_kib() {
    std::FILE *f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "VmRSS:", 6) == 0) {
            std::sscanf(line + 6, "%ld", &kib);
            break;
        }
    std::fclose(f);
    return kib;
}

// True in AddressSanitizer builds, where RSS includes ASan's quarantine and
// says nothing about leaks (LeakSanitizer checks those at exit instead).
constexpr bool built_with_asan() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

}  // namespace fkmrel
#endif
