// Lazy dlsym(RTLD_NEXT) resolution for Original<Fn>, with the per-thread guard
// that keeps a re-entrant call from recursing into dlsym.
#include "original.h"

#include <dlfcn.h>

namespace xlane::preload {
namespace {

// initial-exec: libxlane.so is preloaded, so its TLS sits in the static block and
// reading it never calls __tls_get_addr (which may allocate). constinit + a
// trivial type: no TLS constructor, nothing runs before first use.
constinit thread_local bool t_inside_dlsym __attribute__((tls_model("initial-exec"))) = false;

}  // namespace

void* resolve_next(const char* name, std::atomic<void*>& slot, void* fallback) {
    if (t_inside_dlsym) return nullptr;
    t_inside_dlsym = true;
    void* fn = ::dlsym(RTLD_NEXT, name);
    t_inside_dlsym = false;
    if (fn == nullptr) fn = fallback;
    // Two threads may race here; both store the same address, so last wins harmlessly.
    slot.store(fn, std::memory_order_release);
    return fn;
}

}  // namespace xlane::preload
