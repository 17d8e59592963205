// FastSocketTable storage and the per-thread engine mark.
#include "fast_socket.h"

#include "fast_path.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace xlane::preload {
namespace {

// initial-exec, constinit, trivial: no TLS constructor, no __tls_get_addr.
constinit thread_local bool t_inside_engine __attribute__((tls_model("initial-exec"))) = false;
constinit thread_local int t_thread_id __attribute__((tls_model("initial-exec"))) = 0;
// thread_polls(): the socket of this thread's current run of empty receives.
constinit thread_local const FastSocket* t_polled_socket
    __attribute__((tls_model("initial-exec"))) = nullptr;
constinit thread_local uint32_t t_empty_receives __attribute__((tls_model("initial-exec"))) = 0;

// gettid(), asked once per thread. A forked child's thread has a new id:
// the atfork child handler forgets the cached one.
int this_thread_id() {
    if (t_thread_id == 0) t_thread_id = static_cast<int>(::syscall(SYS_gettid));
    return t_thread_id;
}

}  // namespace

bool thread_polls(const FastSocket& socket) {
    return t_polled_socket == &socket && t_empty_receives >= kPollingAgain;
}

void note_empty_receive(const FastSocket& socket) {
    if (t_polled_socket != &socket) {
        t_polled_socket = &socket;
        t_empty_receives = 0;
    }
    if (t_empty_receives < kPollingAgain) ++t_empty_receives;
}

void note_receive_with_data(const FastSocket& socket) {
    if (t_polled_socket == &socket) t_empty_receives = 0;
}

void forget_thread_id_after_fork() {
    t_thread_id = 0;
}

constinit FastSocketTable g_fast_sockets;

bool inside_engine() {
    return t_inside_engine;
}

InsideEngine::InsideEngine() : was_(t_inside_engine) {
    t_inside_engine = true;
}

InsideEngine::~InsideEngine() {
    t_inside_engine = was_;
}

void mark_engine_thread() {
    t_inside_engine = true;
}

void FastRef::reset() {
    if (socket_ != nullptr) unref(socket_);
    socket_ = nullptr;
}

void unref(FastSocket* socket) {
    if (socket->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete socket;
}

bool FastSocketTable::Stripe::lock() {
    const int self = this_thread_id();
    for (unsigned spins = 0;; ++spins) {
        int expected = 0;
        if (owner.compare_exchange_weak(expected, self, std::memory_order_acquire,
                                        std::memory_order_relaxed))
            return true;
        if (expected == self) return false;  // re-entered from a signal handler
        if (spins > 64) ::sched_yield();     // the owner was preempted
    }
}

FastRef FastSocketTable::find(int fd) {
    if (fd < 0 || fd >= kCapacity) return {};
    // Cheap miss: no lock for fds that never were fast.
    if (slots_[fd].load(std::memory_order_acquire) == nullptr) return {};
    StripeGuard lock(stripe(fd));
    if (!lock.held()) return {};
    FastSocket* socket = slots_[fd].load(std::memory_order_acquire);
    if (socket == nullptr) return {};
    socket->refs.fetch_add(1, std::memory_order_relaxed);
    return FastRef(socket);
}

void FastSocketTable::attach(int fd, FastSocket* socket) {
    if (fd < 0 || fd >= kCapacity) return;
    socket->fd_refs.fetch_add(1, std::memory_order_relaxed);
    socket->refs.fetch_add(1, std::memory_order_relaxed);
    {
        // A signal handler cannot be inside attach() on this thread's stripe:
        // attach is only ever called outside the table's own locked sections.
        StripeGuard lock(stripe(fd));
        slots_[fd].store(socket, std::memory_order_release);
    }
    int seen = end_fd_.load(std::memory_order_relaxed);
    while (fd + 1 > seen &&
           !end_fd_.compare_exchange_weak(seen, fd + 1, std::memory_order_relaxed)) {
    }
}

FastSocket* FastSocketTable::detach(int fd) {
    if (fd < 0 || fd >= kCapacity) return nullptr;
    if (slots_[fd].load(std::memory_order_acquire) == nullptr) return nullptr;
    StripeGuard lock(stripe(fd));
    if (!lock.held()) return nullptr;
    return slots_[fd].exchange(nullptr, std::memory_order_acq_rel);
}

}  // namespace xlane::preload
