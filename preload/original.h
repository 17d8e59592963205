// Original<Fn>: one libc function that libxlane.so interposes, found lazily with
// dlsym(RTLD_NEXT) on first use and cached; safe before any initialisation.
#pragma once

#include <atomic>
#include <utility>

namespace xlane::preload {

// Finds `name` in the objects loaded after libxlane.so and caches it in `slot`
// (or caches `fallback` when the C library lacks the symbol, so dlsym runs once).
// Returns nullptr, and caches nothing, when this thread is already inside dlsym:
// dlsym may call malloc, and a malloc that reads a file, or a signal handler that
// writes, re-enters our wrappers; those calls take the raw-syscall fallback.
// Never allocates, never logs.
void* resolve_next(const char* name, std::atomic<void*>& slot, void* fallback);

template <typename Fn>
class Original {
  public:
    // `fallback` issues the system call directly; it serves the calls that
    // arrive while this thread is resolving a symbol, and symbols that the
    // C library lacks (close_range, closefrom, epoll_pwait2 on older glibc).
    constexpr Original(const char* name, Fn* fallback) : name_(name), fallback_(fallback) {}
    Original(const Original&) = delete;
    Original& operator=(const Original&) = delete;

    [[nodiscard]] Fn* get() const {
        // Acquire pairs with the release store in resolve_next(); the cost is a
        // plain load on x86 and arm64, so the hot path stays one load + one branch.
        void* fn = slot_.load(std::memory_order_acquire);
        if (fn == nullptr) [[unlikely]]
            fn = resolve_next(name_, slot_, reinterpret_cast<void*>(fallback_));
        return fn != nullptr ? reinterpret_cast<Fn*>(fn) : fallback_;
    }

    // Forwards to the libc function (C varargs included: fcntl, ioctl).
    template <typename... Args>
    decltype(auto) operator()(Args&&... args) const {
        return get()(std::forward<Args>(args)...);
    }

  private:
    const char* name_;
    Fn* fallback_;
    mutable std::atomic<void*> slot_{nullptr};
};

}  // namespace xlane::preload
