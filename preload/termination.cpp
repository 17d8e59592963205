// See termination.h. The handler itself only makes async-signal-safe calls
// (raw futex and clock system calls, sigaction, pthread_sigmask, raise) and
// touches no descriptor, so a program that closes every fd cannot break it:
// the closing, which takes locks and allocates, runs on a helper thread with
// every signal blocked, so that a signal landing while the interrupted thread
// holds the allocator's lock cannot deadlock the process. A thread inside the
// engine (which may hold the engine's lock) does not wait for the helper at
// all, and every wait is bounded: at worst the process dies as it would have
// without the library (the kernel then resets the connections).
#include "termination.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "fast_path.h"
#include "fast_udp.h"
#include "libc_table.h"
#include "stats/process_publisher.h"

namespace xlane::preload {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int64_t kWaitNs = 3'000'000'000;  // above the engine's 2 s for what it cannot hand over

std::atomic<pid_t> g_arming_pid{0};  // the process arming (or having armed) the handler
std::atomic<pid_t> g_armed_pid{0};   // the process whose helper thread exists
// Futex words (handler -> helper, helper -> handler) and the first signal's deadline.
uint32_t g_request = 0;
uint32_t g_done = 0;
std::atomic<int64_t> g_deadline_ns{0};

pid_t current_pid() {
    return static_cast<pid_t>(::syscall(SYS_getpid));
}

int64_t monotonic_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
    return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

void futex_wait(uint32_t* word, const timespec* timeout) {
    ::syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0, timeout, nullptr, 0);
}

void futex_set_and_wake(uint32_t* word) {
    __atomic_store_n(word, 1, __ATOMIC_RELEASE);
    ::syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

void* close_everything(void*) {
    while (__atomic_load_n(&g_request, __ATOMIC_ACQUIRE) == 0) futex_wait(&g_request, nullptr);
    fast::release_all_for_exit();
    stats::remove_process_segment_at_exit();  // no exit handler will
    futex_set_and_wake(&g_done);
    return nullptr;
}

// Until the helper is done or the first signal's deadline passed.
void wait_for_helper() {
    for (;;) {
        if (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) != 0) return;
        const int64_t left = g_deadline_ns.load() - monotonic_ns();
        if (left <= 0) return;
        const timespec step{static_cast<time_t>(left / 1'000'000'000),
                            static_cast<long>(left % 1'000'000'000)};
        futex_wait(&g_done, &step);
    }
}

// Only the process that armed it (a forked child inherits the handler but
// not the helper thread; a vfork child shares our memory), and never from
// inside the engine. A second caller, on another thread, waits for the same
// closing.
// Returns false when the helper did not finish in time: it may hold the
// engine mutex, blocked (a lock the interrupted thread holds), so nothing
// after this may take that mutex.
bool close_through_helper() {
    if (g_armed_pid.load() != current_pid() || inside_engine()) return true;
    int64_t unset = 0;
    if (g_deadline_ns.compare_exchange_strong(unset, monotonic_ns() + kWaitNs))
        futex_set_and_wake(&g_request);
    wait_for_helper();
    return __atomic_load_n(&g_done, __ATOMIC_ACQUIRE) != 0;
}

void on_terminating_signal(int sig) {
    const int saved_errno = errno;
    (void)close_through_helper();
    // Die of the signal, as its default action would have made us (the next
    // sigaction, resolved when arming: the interposed one would put this
    // handler back).
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    libc::sigaction(sig, &fallback, nullptr);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, sig);
    ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
    ::raise(sig);
    errno = saved_errno;  // reached only if the signal was ignored meanwhile
}

struct sigaction graceful_action() {
    struct sigaction ours {};
    ours.sa_handler = on_terminating_signal;
    // It never returns, but interrupted calls elsewhere are restarted as
    // the program's other handlers ask (readiness_support's EINTR rule).
    ours.sa_flags = SA_RESTART;
    sigfillset(&ours.sa_mask);  // nothing else interrupts the closing
    return ours;
}

bool is_armed_signal(int sig) {
    for (int armed : kSignals)
        if (armed == sig) return true;
    return false;
}

}  // namespace

bool close_fast_sockets_before_image_ends() {
    const int saved_errno = errno;
    const bool finished = close_through_helper();
    errno = saved_errno;
    return finished;
}

bool keep_graceful_for_default(int sig, const struct sigaction& requested,
                               struct sigaction* graceful) {
    if ((requested.sa_flags & SA_SIGINFO) != 0 || requested.sa_handler != SIG_DFL) return false;
    if (!is_armed_signal(sig) || g_armed_pid.load() != current_pid()) return false;
    *graceful = graceful_action();
    return true;
}

void report_graceful_as_default(struct sigaction* action) {
    if ((action->sa_flags & SA_SIGINFO) != 0 || action->sa_handler != on_terminating_signal) return;
    *action = {};
    action->sa_handler = SIG_DFL;
    sigemptyset(&action->sa_mask);
}

__sighandler_t report_graceful_as_default(__sighandler_t handler) {
    return handler == on_terminating_signal ? SIG_DFL : handler;
}

void arm_graceful_termination() {
    // Once per process, without a lock (a forked child arms again for itself).
    const pid_t pid = current_pid();
    pid_t seen = g_arming_pid.load();
    if (seen == pid || !g_arming_pid.compare_exchange_strong(seen, pid)) return;
    __atomic_store_n(&g_request, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_done, 0, __ATOMIC_RELEASE);
    g_deadline_ns.store(0);
    // The helper is born with every signal blocked, so none lands on it.
    sigset_t all, previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_t helper;
    const bool started = ::pthread_create(&helper, nullptr, close_everything, nullptr) == 0;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (!started) return;
    ::pthread_detach(helper);
    g_armed_pid.store(pid);
    for (int sig : kSignals) {
        struct sigaction current {};
        if (libc::sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) != 0 ||
            current.sa_handler != SIG_DFL)
            continue;  // the program's own choice stays (or, in a forked child, ours)
        const struct sigaction ours = graceful_action();
        libc::sigaction(sig, &ours, nullptr);
    }
}

}  // namespace xlane::preload
