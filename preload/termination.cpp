// See termination.h. The handler itself only makes async-signal-safe calls
// (raw write and ppoll system calls, which no wrapper of this library sees,
// sigaction, pthread_sigmask, raise): the closing, which takes
// locks and allocates, runs on a helper thread with every signal blocked, so
// that a signal landing while the interrupted thread holds the allocator's
// or the engine's lock cannot deadlock the process. If that thread holds the
// engine's lock, the helper waits for it in vain, the handler's bounded wait
// ends, and the process dies as before (the kernel resets the connections).
#include "termination.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>

#include "fast_path.h"
#include "fast_udp.h"
#include "stats/process_publisher.h"

namespace xlane::preload {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kWaitMs = 3000;  // above the engine's 2 s for what it cannot hand over
static_assert(kWaitMs % 1000 == 0);

std::mutex g_arm_mutex;
std::atomic<pid_t> g_armed_pid{0};  // the process whose helper thread exists
std::atomic<int> g_request_fd{-1};  // eventfd: handler -> helper
std::atomic<int> g_done_fd{-1};     // eventfd: helper -> handler
std::atomic<bool> g_terminating{false};

pid_t current_pid() {
    return static_cast<pid_t>(::syscall(SYS_getpid));
}

// The eventfds are this file's own: raw system calls, not the interposed
// read/write/poll/close (which look descriptors up in the socket tables).
long eventfd_write(int fd) {
    const uint64_t one = 1;
    return ::syscall(SYS_write, fd, &one, sizeof(one));
}
void close_raw(int fd) {
    ::syscall(SYS_close, fd);
}

void* close_everything(void*) {
    uint64_t value = 0;
    while (::syscall(SYS_read, g_request_fd.load(), &value, sizeof(value)) != sizeof(value)) {
        if (errno != EINTR) return nullptr;
    }
    fast::release_all_for_exit();
    stats::remove_process_segment_at_exit();  // no exit handler will
    (void)eventfd_write(g_done_fd.load());
    return nullptr;
}

void on_terminating_signal(int sig) {
    const int saved_errno = errno;
    // Only the process that armed it (a forked child inherits the handler but
    // not the helper thread), only once, and never from inside the engine.
    if (g_armed_pid.load() == current_pid() && !inside_engine() &&
        !g_terminating.exchange(true)) {
        if (eventfd_write(g_request_fd.load()) == sizeof(uint64_t)) {
            pollfd done{g_done_fd.load(), POLLIN, 0};
            const timespec limit{kWaitMs / 1000, 0};
            (void)::syscall(SYS_ppoll, &done, 1, &limit, nullptr, 0);
        }
    }
    // Die of the signal, as its default action would have made us.
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    ::sigaction(sig, &fallback, nullptr);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, sig);
    ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
    ::raise(sig);
    errno = saved_errno;  // reached only if the signal was ignored meanwhile
}

}  // namespace

void arm_graceful_termination() {
    const pid_t pid = current_pid();
    if (g_armed_pid.load() == pid) return;
    std::lock_guard lock(g_arm_mutex);
    if (g_armed_pid.load() == pid) return;
    const int request = ::eventfd(0, EFD_CLOEXEC);
    const int done = ::eventfd(0, EFD_CLOEXEC);
    if (request < 0 || done < 0) {
        if (request >= 0) close_raw(request);
        if (done >= 0) close_raw(done);
        return;
    }
    // The helper is born with every signal blocked, so none lands on it.
    sigset_t all, previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    g_request_fd.store(request);
    g_done_fd.store(done);
    pthread_t helper;
    const bool started = ::pthread_create(&helper, nullptr, close_everything, nullptr) == 0;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (!started) {
        close_raw(request);
        close_raw(done);
        return;
    }
    ::pthread_detach(helper);
    g_terminating.store(false);
    g_armed_pid.store(pid);
    for (int sig : kSignals) {
        struct sigaction current {};
        if (::sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) != 0 ||
            current.sa_handler != SIG_DFL)
            continue;  // the program's own choice stays
        struct sigaction ours {};
        ours.sa_handler = on_terminating_signal;
        sigfillset(&ours.sa_mask);  // nothing else interrupts the closing
        ::sigaction(sig, &ours, nullptr);
    }
}

}  // namespace xlane::preload
