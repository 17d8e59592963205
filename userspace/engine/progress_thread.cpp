#include "engine/progress_thread.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace xlane::engine {

Result<std::unique_ptr<ProgressThread>> ProgressThread::start(std::vector<int> fds,
                                                              std::chrono::milliseconds tick,
                                                              Callback on_wake,
                                                              Callback on_start) {
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop) return errno_error("cannot create the progress thread's stop eventfd");
    std::unique_ptr<ProgressThread> thread(
        new ProgressThread(std::move(fds), tick, std::move(on_wake), std::move(on_start),
                           std::move(stop)));
    thread->thread_ = std::thread([self = thread.get()] { self->run(); });
    return thread;
}

ProgressThread::~ProgressThread() {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    if (thread_.joinable()) thread_.join();
}

void ProgressThread::run() {
    if (on_start_) on_start_();
    std::vector<pollfd> set;
    set.push_back(pollfd{stop_.get(), POLLIN, 0});
    for (int fd : fds_) set.push_back(pollfd{fd, POLLIN, 0});
    for (;;) {
        const int ready = ::poll(set.data(), set.size(), static_cast<int>(tick_.count()));
        if (ready < 0 && errno != EINTR) return;  // cannot happen with valid fds
        if (set[0].revents != 0) return;
        on_wake_();
        wakeups_.fetch_add(1, std::memory_order_relaxed);
    }
}

}  // namespace xlane::engine
