// passthrough_guard.cpp — a per-thread marker, saved and restored.
#include "passthrough_guard.h"

namespace flashkm_bridge {
namespace {
thread_local bool active = false;
thread_local const void *target = nullptr; // nullptr while active: any
} // namespace

passthrough_guard::passthrough_guard(const void *clustering)
        : saved_target_(target), saved_active_(active) {
    active = true;
    target = clustering;
}

passthrough_guard::~passthrough_guard() {
    active = saved_active_;
    target = saved_target_;
}

bool passthrough_guard::covers(const void *clustering) {
    return active && (target == nullptr || target == clustering);
}

} // namespace flashkm_bridge
