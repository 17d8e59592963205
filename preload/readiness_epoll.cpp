// Registry of the epoll registrations of UDP sockets and the epoll_wait that
// merges a set's kernel events with its accelerated sockets' (layout in
// readiness_epoll.h).
//
// Records: one EpollSet per epoll fd that ever held a UDP socket, one Watch
// per (epoll fd, UDP socket fd) registration: the program's events and data,
// and where the registration lives (the program's set while the socket is on
// the kernel path, the sub-set while it is accelerated).
//
// Locking: a Watch is reached from its fd's list (guarded by one of
// kFdStripes locks chosen by fd number) and from its set's list (guarded by
// the set's lock); it changes only with both held, fd stripe first. epoll_wait
// drains a sub-set under the set lock alone, so a thread in epoll_ctl and
// threads in epoll_wait on the same set never see half an update, and no lock
// is ever held while a thread sleeps.
//
// Memory: records come from BlockPool (mmap, never unmapped, no malloc).
// Internal epoll calls are raw system calls: no cancellation point inside a
// lock. fork: the registry is process memory, inherited like the epoll fds
// (and the hidden sub-sets) it describes; a pthread_atfork child handler
// frees every lock, since a parent thread may have held one at the fork. An
// inherited epoll set is shared with the parent, as the kernel shares it: a
// child that changes it changes the parent's too, and diverges from the
// parent's registry exactly as two processes sharing an epoll fd would.
#include "readiness_epoll.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <new>

#include "common/high_fd.h"
#include "fast_path.h"
#include "kernel_spin.h"
#include "libc_table.h"
#include "readiness_support.h"
#include "socket_table.h"

namespace xlane::preload {
namespace {

constexpr size_t kKernelSigsetSize = _NSIG / 8;
constexpr int kCapacity = SocketTable::kCapacity;
constexpr unsigned kFdStripes = 64;

// The flags that describe how a registration triggers, not what it waits for;
// both halves of an accelerated registration carry them.
constexpr uint32_t kTriggerFlags = EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP;
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDNORM;

// The two registrations of an accelerated socket in the sub-set, told apart
// by the low bit of the tag (Watch is 16-byte aligned by BlockPool). The top
// byte carries the watch's stamp, so a registration that outlived its record
// (which the hooks prevent) is recognised as stale even when the block was
// reused (user addresses stay below 2^56 on x86-64 and arm64).
enum Half : uint64_t { kSocketHalf = 0, kEventHalf = 1 };
constexpr int kStampShift = 56;
constexpr uint64_t kPointerMask = (uint64_t{1} << kStampShift) - 1;

struct EpollSet;

struct Watch {
    EpollSet* set;
    int fd;
    uint32_t events;  // as the program gave them, flags included
    epoll_data_t data;
    int event_fd;      // the eventfd while accelerated, else -1
    int own_event_fd;  // our dup of it, when another watch of the
                       // same sub-set already registered the eventfd
    bool accelerated;  // the registration lives in the sub-set
    bool socket_half;  // registered in the sub-set
    bool event_half;   // registered in the sub-set
    bool armed;        // EPOLLONESHOT: not reported since the last arm
    bool stream;       // a fast-path TCP socket: all readiness from the eventfd
    bool listening;    // ... a listener: its kernel queue's EPOLLIN counts too
    uint32_t stream_hold;  // ... the interest it holds in the engine (0: none)
    short held_events;     // ... in these events
    uint8_t stamp;     // in every tag of this record
    uint32_t harvest;  // the drain that reported it last ...
    int slot;          // ... and at which output index
    Watch* next_of_fd;
    Watch* prev_of_fd;
    Watch* next_of_set;
    Watch* prev_of_set;
};

struct EpollSet {
    FutexLock lock;
    int epfd;
    int sub;                           // the sub-set, -1 until needed
    std::atomic<bool> sub_registered;  // the cookie may appear in epfd's events
    std::atomic<uint64_t> cookie;      // epoll_data of the sub-set in epfd
    std::atomic<int> accelerated;      // watches living in the sub-set
    uint32_t harvests;                 // drains so far (Watch::harvest)
    Watch* watches;
};

constinit BlockPool g_watch_pool{sizeof(Watch)};
constinit BlockPool g_set_pool{sizeof(EpollSet)};
constinit FutexLock g_sets_lock;  // creation of EpollSet records only
// Both tables are zero-initialised .bss (8 MiB each, touched page by page).
constinit std::atomic<EpollSet*> g_sets[kCapacity]{};
constinit std::atomic<Watch*> g_fd_watches[kCapacity]{};  // list heads, under the fd stripe
constinit FutexLock g_fd_stripes[kFdStripes];
constinit std::atomic<int> g_sets_end{0};  // one past the highest epfd with a record
constinit std::atomic<int> g_watches_end{0};  // one past the highest fd ever watched
constinit std::atomic<bool> g_fork_handler_registered{false};
constinit std::atomic<uint8_t> g_next_stamp{0};

void reset_locks_in_fork_child() {
    for (FutexLock& lock : g_fd_stripes) lock.reset_after_fork();
    g_sets_lock.reset_after_fork();
    g_watch_pool.reset_after_fork();
    g_set_pool.reset_after_fork();
    const int end = g_sets_end.load(std::memory_order_relaxed);
    for (int fd = 0; fd < end; ++fd) {
        EpollSet* set = g_sets[fd].load(std::memory_order_relaxed);
        if (set != nullptr) set->lock.reset_after_fork();
    }
}

FutexLock& stripe_of(int fd) {
    return g_fd_stripes[static_cast<unsigned>(fd) % kFdStripes];
}

bool in_range(int fd) {
    return fd >= 0 && fd < kCapacity;
}

// ---- raw kernel calls (no cancellation point, errno preserved on success) ----

int sys_epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
    return static_cast<int>(::syscall(SYS_epoll_ctl, epfd, op, fd, event));
}

int sys_epoll_wait_now(int epfd, epoll_event* events, int maxevents, const sigset_t* sigmask) {
    return static_cast<int>(
        ::syscall(SYS_epoll_pwait, epfd, events, maxevents, 0, sigmask, kKernelSigsetSize));
}

void sys_close(int fd) {
    const int saved = errno;
    ::syscall(SYS_close, fd);
    errno = saved;
}

uint64_t random_cookie() {
    uint64_t value = 0;
    if (::syscall(SYS_getrandom, &value, sizeof value, GRND_NONBLOCK) != sizeof value) {
        // Early boot without entropy: still unlikely to equal a program's data.
        const timespec now = monotonic_now();
        value = (static_cast<uint64_t>(now.tv_nsec) << 32) ^ static_cast<uint64_t>(now.tv_sec) ^
                reinterpret_cast<uintptr_t>(&value) ^ 0x9e3779b97f4a7c15ULL;
    }
    return value;
}

// ---- UDP sockets: the only fds that can become accelerated ----

bool udp_candidate(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry.has_value() && entry->type == SOCK_DGRAM &&
           (entry->family == AF_INET || entry->family == AF_INET6) &&
           (entry->protocol == 0 || entry->protocol == IPPROTO_UDP);
}

// ---- records ----

Watch* find_watch(int epfd, int fd) {
    for (Watch* w = g_fd_watches[fd].load(std::memory_order_relaxed); w != nullptr;
         w = w->next_of_fd) {
        if (w->set->epfd == epfd) return w;
    }
    return nullptr;
}

EpollSet* set_for(int epfd, bool create) {
    if (!in_range(epfd)) {
        if (create) errno = ENOMEM;  // beyond the table: cannot be tracked
        return nullptr;
    }
    EpollSet* set = g_sets[epfd].load(std::memory_order_acquire);
    if (set != nullptr || !create) return set;
    LockGuard guard(g_sets_lock);
    set = g_sets[epfd].load(std::memory_order_acquire);
    if (set != nullptr) return set;
    void* memory = g_set_pool.allocate();
    if (memory == nullptr) {
        errno = ENOMEM;
        return nullptr;
    }
    set = new (memory) EpollSet{};
    set->epfd = epfd;
    set->sub = -1;
    set->cookie.store(random_cookie(), std::memory_order_relaxed);
    if (g_sets_end.load(std::memory_order_relaxed) <= epfd)
        g_sets_end.store(epfd + 1, std::memory_order_relaxed);  // under g_sets_lock
    g_sets[epfd].store(set, std::memory_order_release);
    if (!g_fork_handler_registered.exchange(true))
        ::pthread_atfork(nullptr, nullptr, reset_locks_in_fork_child);
    return set;
}

// Under the fd stripe and the set lock.
void link_watch(Watch* w) {
    Watch* head = g_fd_watches[w->fd].load(std::memory_order_relaxed);
    w->next_of_fd = head;
    w->prev_of_fd = nullptr;
    if (head != nullptr) head->prev_of_fd = w;
    g_fd_watches[w->fd].store(w, std::memory_order_relaxed);
    for (int end = g_watches_end.load(std::memory_order_relaxed); end <= w->fd;)
        if (g_watches_end.compare_exchange_weak(end, w->fd + 1, std::memory_order_relaxed)) break;
    EpollSet* set = w->set;
    w->next_of_set = set->watches;
    w->prev_of_set = nullptr;
    if (set->watches != nullptr) set->watches->prev_of_set = w;
    set->watches = w;
}

// A fast TCP socket's watch lets go of the interest it holds in the engine.
void drop_stream_hold(Watch* w) {
    if (w->stream_hold == 0) return;
    fast_stream_release(w->stream_hold, w->held_events);
    w->stream_hold = 0;
}

// Under the fd stripe and the set lock; the watch must no longer be in the sub-set.
void unlink_and_free(Watch* w) {
    drop_stream_hold(w);
    if (w->prev_of_fd != nullptr) {
        w->prev_of_fd->next_of_fd = w->next_of_fd;
    } else {
        g_fd_watches[w->fd].store(w->next_of_fd, std::memory_order_relaxed);
    }
    if (w->next_of_fd != nullptr) w->next_of_fd->prev_of_fd = w->prev_of_fd;
    EpollSet* set = w->set;
    if (w->prev_of_set != nullptr) {
        w->prev_of_set->next_of_set = w->next_of_set;
    } else {
        set->watches = w->next_of_set;
    }
    if (w->next_of_set != nullptr) w->next_of_set->prev_of_set = w->prev_of_set;
    g_watch_pool.release(w);
}

Watch* new_watch(EpollSet* set, int fd) {
    void* memory = g_watch_pool.allocate();
    if (memory == nullptr) {
        errno = ENOMEM;
        return nullptr;
    }
    Watch* w = new (memory) Watch{};
    w->set = set;
    w->fd = fd;
    w->stamp = static_cast<uint8_t>(g_next_stamp.fetch_add(1, std::memory_order_relaxed) + 1);
    w->event_fd = -1;
    w->own_event_fd = -1;
    w->armed = true;
    return w;
}

// ---- the sub-set and the two halves ----

uint64_t tag(Watch* w, Half half) {
    return reinterpret_cast<uintptr_t>(w) | half | (uint64_t{w->stamp} << kStampShift);
}

// The fd the eventfd half is registered under: epoll keys registrations by
// (file, fd number), so two fds of one socket (dup) in one set need two names
// for the one eventfd.
int event_half_fd(const Watch* w) {
    return w->own_event_fd >= 0 ? w->own_event_fd : w->event_fd;
}

// Under the set lock: enters the eventfd half, under a private dup of the
// eventfd when the sub-set already holds it for another fd of the socket.
int add_event_half(Watch* w, epoll_event* read_event) {
    EpollSet* set = w->set;
    if (sys_epoll_ctl(set->sub, EPOLL_CTL_ADD, event_half_fd(w), read_event) == 0) return 0;
    if (errno != EEXIST || w->own_event_fd >= 0) return -1;
    const int copy = static_cast<int>(::syscall(SYS_fcntl, w->event_fd, F_DUPFD_CLOEXEC, 0));
    if (copy < 0) return -1;
    if (sys_epoll_ctl(set->sub, EPOLL_CTL_ADD, copy, read_event) != 0) {
        const int error = errno;
        sys_close(copy);
        errno = error;
        return -1;
    }
    w->own_event_fd = copy;
    return 0;
}

void close_own_event_fd(Watch* w) {
    if (w->own_event_fd >= 0) sys_close(w->own_event_fd);
    w->own_event_fd = -1;
}

epoll_event socket_half_event(Watch* w, uint32_t events) {
    epoll_event e{};
    e.events = events & ~kReadEvents;
    // A fast-path TCP socket's shadow reports EPOLLHUP (never connected):
    // its half stays registered (it answers EEXIST/EINVAL for the program)
    // but quiet, except a listener's EPOLLIN (clients the kernel queued).
    if (w->stream)
        e.events = w->listening ? (events & (kReadEvents | kTriggerFlags))
                                : (EPOLLONESHOT | (events & EPOLLET));
    e.data.u64 = tag(w, kSocketHalf);
    return e;
}

epoll_event event_half_event(Watch* w, uint32_t events) {
    epoll_event e{};
    e.events = EPOLLIN | (events & kTriggerFlags);
    e.data.u64 = tag(w, kEventHalf);
    return e;
}

// A half that must stay quiet: EPOLLONESHOT with no event asked for (the
// kernel adds EPOLLERR|EPOLLHUP to every registration; if one of those fires
// while the watch is disarmed, the drain drops it, and the half disarms itself).
epoll_event dormant_event(Watch* w, Half half) {
    epoll_event e{};
    e.events = EPOLLONESHOT | (w->events & EPOLLET);
    e.data.u64 = tag(w, half);
    return e;
}

// Under the set lock: creates the sub-set and enters it into the program's
// set. Fails with the kernel's error for a bad epfd (EBADF, EINVAL, ELOOP).
bool ensure_sub(EpollSet* set) {
    if (set->sub >= 0) return true;
    // Above the application's descriptors (common/high_fd.h).
    const int sub =
        move_fd_high(static_cast<int>(::syscall(SYS_epoll_create1, EPOLL_CLOEXEC)));
    if (sub < 0) return false;
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = set->cookie.load(std::memory_order_relaxed);
    // Published before the cookie can show up in a waiter's events.
    set->sub_registered.store(true, std::memory_order_release);
    if (sys_epoll_ctl(set->epfd, EPOLL_CTL_ADD, sub, &e) != 0) {
        const int error = errno;
        set->sub_registered.store(false, std::memory_order_release);
        sys_close(sub);
        errno = error;
        return false;
    }
    set->sub = sub;
    return true;
}

// Under the fd stripe and the set lock: enters both halves of `w` (events
// already set) into the sub-set. The socket half goes first so that its
// error is the kernel's answer for the program's own request.
bool attach_halves(Watch* w) {
    EpollSet* set = w->set;
    epoll_event socket_event = socket_half_event(w, w->events);
    if (sys_epoll_ctl(set->sub, EPOLL_CTL_ADD, w->fd, &socket_event) != 0) return false;
    w->socket_half = true;
    if ((w->events & kReadEvents) != 0 || w->stream) {
        epoll_event read_event = event_half_event(w, w->events);
        if (add_event_half(w, &read_event) != 0) {
            const int error = errno;
            sys_epoll_ctl(set->sub, EPOLL_CTL_DEL, w->fd, nullptr);
            w->socket_half = false;
            errno = error;
            return false;
        }
        w->event_half = true;
    }
    return true;
}

void detach_halves(Watch* w) {
    const int saved = errno;
    EpollSet* set = w->set;
    // Errors are expected when the fd or eventfd is already closed (the
    // kernel then dropped the registration itself).
    if (w->socket_half) sys_epoll_ctl(set->sub, EPOLL_CTL_DEL, w->fd, nullptr);
    if (w->event_half) sys_epoll_ctl(set->sub, EPOLL_CTL_DEL, event_half_fd(w), nullptr);
    close_own_event_fd(w);
    w->socket_half = false;
    w->event_half = false;
    errno = saved;
}

// Under the fd stripe: a kernel-path registration moves into the sub-set.
void promote(Watch* w, int event_fd) {
    EpollSet* set = w->set;
    LockGuard guard(set->lock);
    if (w->accelerated || !ensure_sub(set)) return;  // stays a kernel registration
    if (sys_epoll_ctl(set->epfd, EPOLL_CTL_DEL, w->fd, nullptr) != 0) {
        // ENOENT/EBADF: the program's set no longer holds it (closed behind
        // our back): a stale record, not a registration.
        unlink_and_free(w);
        return;
    }
    w->event_fd = event_fd;
    // An EPOLLONESHOT registration that already fired in the kernel cannot be
    // told from an armed one; it is moved armed (at worst one extra event).
    w->armed = true;
    if (!attach_halves(w)) {
        w->event_fd = -1;
        epoll_event back{};
        back.events = w->events;
        back.data = w->data;
        if (sys_epoll_ctl(set->epfd, EPOLL_CTL_ADD, w->fd, &back) != 0) unlink_and_free(w);
        return;
    }
    w->accelerated = true;
    set->accelerated.fetch_add(1, std::memory_order_relaxed);
}

// Under the fd stripe: an accelerated registration goes back to the program's set.
void demote(Watch* w) {
    EpollSet* set = w->set;
    LockGuard guard(set->lock);
    if (!w->accelerated) return;
    detach_halves(w);
    drop_stream_hold(w);
    w->accelerated = false;
    w->event_fd = -1;
    set->accelerated.fetch_sub(1, std::memory_order_relaxed);
    epoll_event back{};
    // A disarmed EPOLLONESHOT registration goes back as disarmed as the
    // kernel allows: no event asked for (EPOLLERR/EPOLLHUP still apply).
    back.events = w->armed ? w->events : (w->events & kTriggerFlags);
    back.data = w->data;
    const int saved = errno;
    if (sys_epoll_ctl(set->epfd, EPOLL_CTL_ADD, w->fd, &back) != 0) unlink_and_free(w);
    errno = saved;
}

// ---- epoll_ctl ----

// The program's set holds the registration (the socket is on the kernel
// path): the kernel answers, the record follows.
int ctl_kernel_path(int epfd, int op, int fd, epoll_event* event, Watch* w) {
    if (w != nullptr && w->accelerated) {
        demote(w);                 // the socket went back to the kernel without telling us
        w = find_watch(epfd, fd);  // demote() frees a record it cannot re-add
    }
    EpollSet* set = nullptr;
    Watch* fresh = nullptr;
    if (op == EPOLL_CTL_ADD && w == nullptr && in_range(epfd)) {
        set = set_for(epfd, true);
        if (set != nullptr) fresh = new_watch(set, fd);
        if (fresh == nullptr) return -1;  // ENOMEM: not registered untracked
    }
    // The kernel reads `event` first (EFAULT for a bad one); we only after it.
    const int ret = libc::epoll_ctl(epfd, op, fd, event);
    if (ret != 0) {
        const int error = errno;
        if (fresh != nullptr) g_watch_pool.release(fresh);
        if (w != nullptr && (op == EPOLL_CTL_MOD || op == EPOLL_CTL_DEL) && error == ENOENT) {
            LockGuard guard(w->set->lock);
            unlink_and_free(w);  // the kernel forgot it (closed behind our back)
        }
        errno = error;
        return ret;
    }
    if (fresh != nullptr) {
        LockGuard guard(set->lock);
        fresh->events = event->events;
        fresh->data = event->data;
        link_watch(fresh);
    } else if (w != nullptr) {
        LockGuard guard(w->set->lock);
        if (op == EPOLL_CTL_DEL) {
            unlink_and_free(w);
        } else {
            w->events = event->events;  // ADD over a stale record, or MOD
            w->data = event->data;
            w->armed = true;
        }
    }
    return ret;
}

int ctl_add_accelerated(int epfd, int fd, epoll_event* event, int event_fd) {
    EpollSet* set = set_for(epfd, true);
    if (set == nullptr) return -1;
    Watch* w = new_watch(set, fd);
    if (w == nullptr) return -1;
    w->events = event->events;
    w->data = event->data;
    w->event_fd = event_fd;
    int stream_event_fd = -1;
    w->held_events = static_cast<short>(event->events & 0x3fff);
    w->stream = fast_stream_event_fd(fd, w->held_events, (event->events & EPOLLET) != 0,
                                     &stream_event_fd, &w->listening, &w->stream_hold);
    LockGuard guard(set->lock);
    if (!ensure_sub(set) || !attach_halves(w)) {
        const int error = errno;
        drop_stream_hold(w);
        g_watch_pool.release(w);
        errno = error;
        return -1;
    }
    w->accelerated = true;
    link_watch(w);
    set->accelerated.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

int ctl_mod_accelerated(Watch* w, epoll_event* event) {
    EpollSet* set = w->set;
    LockGuard guard(set->lock);
    // The socket half answers for the program: EINVAL for EPOLLEXCLUSIVE
    // and for a registration made exclusive, exactly as the kernel would.
    epoll_event socket_event = socket_half_event(w, event->events);
    const int op_socket = w->socket_half ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (op_socket == EPOLL_CTL_ADD && (event->events & EPOLLEXCLUSIVE) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (sys_epoll_ctl(set->sub, op_socket, w->fd, &socket_event) != 0) return -1;
    w->socket_half = true;
    if (w->stream) {
        // The new interest is held before the old one goes: no gap.
        const uint32_t old_hold = w->stream_hold;
        const short old_events = w->held_events;
        int stream_event_fd = -1;
        w->held_events = static_cast<short>(event->events & 0x3fff);
        w->stream_hold = 0;
        (void)fast_stream_event_fd(w->fd, w->held_events, (event->events & EPOLLET) != 0,
                                   &stream_event_fd, &w->listening, &w->stream_hold);
        fast_stream_release(old_hold, old_events);
    }
    const bool wants_read = (event->events & kReadEvents) != 0 || w->stream;
    if (wants_read) {
        epoll_event read_event = event_half_event(w, event->events);
        const int failed =
            w->event_half ? sys_epoll_ctl(set->sub, EPOLL_CTL_MOD, event_half_fd(w), &read_event)
                          : add_event_half(w, &read_event);
        if (failed != 0) {
            // Out of memory/watches: the program's MOD fails as a whole.
            const int error = errno;
            epoll_event old = socket_half_event(w, w->events);
            sys_epoll_ctl(set->sub, EPOLL_CTL_MOD, w->fd, &old);
            errno = error;
            return -1;
        }
        w->event_half = true;
    } else if (w->event_half) {
        sys_epoll_ctl(set->sub, EPOLL_CTL_DEL, event_half_fd(w), nullptr);
        close_own_event_fd(w);
        w->event_half = false;
    }
    w->events = event->events;
    w->data = event->data;
    w->armed = true;
    return 0;
}

int ctl_del_accelerated(Watch* w) {
    EpollSet* set = w->set;
    LockGuard guard(set->lock);
    detach_halves(w);
    w->accelerated = false;
    set->accelerated.fetch_sub(1, std::memory_order_relaxed);
    unlink_and_free(w);
    return 0;
}

// Whether the kernel can read `event`, asked of the kernel (one system call,
// no effect): epoll_ctl copies the event before anything else and then
// refuses an epoll fd added to itself. False with the kernel's errno for the
// program's own call (EFAULT; EBADF for a closed epfd, checked next anyway).
bool event_readable(int epfd, epoll_event* event) {
    if (sys_epoll_ctl(epfd, EPOLL_CTL_ADD, epfd, event) == 0) {
        sys_epoll_ctl(epfd, EPOLL_CTL_DEL, epfd, nullptr);  // cannot happen; undo
        return true;
    }
    return errno != EFAULT && errno != EBADF;
}

// A UDP socket: the registration may have to follow the socket to the fast path.
int ctl_udp(int epfd, int op, int fd, epoll_event* event) {
    LockGuard fd_guard(stripe_of(fd));
    // Decided under the stripe: epoll_on_socket_accelerated takes it too, so
    // a socket accelerated concurrently is moved after this call records it.
    int event_fd = -1;
    const bool accelerated = fast_socket_event_fd(fd, &event_fd);
    Watch* w = find_watch(epfd, fd);
    if (!accelerated || (w != nullptr && !w->accelerated))
        return ctl_kernel_path(epfd, op, fd, event, w);
    if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && !event_readable(epfd, event)) return -1;
    switch (op) {
        case EPOLL_CTL_ADD:
            if (w != nullptr) {
                // Already registered: the kernel's verdict on the same request
                // (EINVAL for bad flags comes before EEXIST, as in the kernel).
                LockGuard guard(w->set->lock);
                epoll_event again = socket_half_event(w, event->events);
                if (sys_epoll_ctl(w->set->sub, EPOLL_CTL_ADD, fd, &again) == 0) {
                    // The socket half was missing (cannot happen while the
                    // watch is accelerated); undo, and answer as the kernel.
                    sys_epoll_ctl(w->set->sub, EPOLL_CTL_DEL, fd, nullptr);
                    errno = EEXIST;
                }
                return -1;
            }
            return ctl_add_accelerated(epfd, fd, event, event_fd);
        case EPOLL_CTL_MOD:
            return w != nullptr ? ctl_mod_accelerated(w, event)
                                : ctl_kernel_path(epfd, op, fd, event, nullptr);
        case EPOLL_CTL_DEL:
            return w != nullptr ? ctl_del_accelerated(w)
                                : ctl_kernel_path(epfd, op, fd, event, nullptr);
        default:
            return libc::epoll_ctl(epfd, op, fd, event);  // EINVAL
    }
}

// A program's registration whose data equals a set's cookie would be taken
// for the sub-set's; the set changes cookie instead (vanishingly rare).
void avoid_cookie(int epfd, int op, const epoll_event* event) {
    if (op == EPOLL_CTL_DEL || event == nullptr) return;
    EpollSet* set = set_for(epfd, false);
    if (set == nullptr || set->cookie.load(std::memory_order_relaxed) != event->data.u64) return;
    LockGuard guard(set->lock);
    uint64_t cookie = random_cookie();
    while (cookie == event->data.u64) cookie = random_cookie();
    set->cookie.store(cookie, std::memory_order_relaxed);
    if (set->sub >= 0) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = cookie;
        const int saved = errno;
        sys_epoll_ctl(set->epfd, EPOLL_CTL_MOD, set->sub, &e);
        errno = saved;
    }
}

// ---- epoll_wait ----

// Under the set lock: replaces the sub-set by a new one holding exactly the
// registrations the records describe (armed or quietened as they are), which
// drops any registration whose record is gone (its fd number was closed
// before the registry heard of it). The program's set keeps its events.
void rebuild_sub(EpollSet* set) {
    const int fresh =
        move_fd_high(static_cast<int>(::syscall(SYS_epoll_create1, EPOLL_CLOEXEC)));
    if (fresh < 0) return;
    for (Watch* w = set->watches; w != nullptr; w = w->next_of_set) {
        if (!w->accelerated) continue;
        const bool quiet = (w->events & EPOLLONESHOT) != 0 && !w->armed;
        if (w->socket_half) {
            epoll_event e = quiet ? dormant_event(w, kSocketHalf) : socket_half_event(w, w->events);
            w->socket_half = sys_epoll_ctl(fresh, EPOLL_CTL_ADD, w->fd, &e) == 0;
        }
        if (w->event_half) {
            epoll_event e = quiet ? dormant_event(w, kEventHalf) : event_half_event(w, w->events);
            w->event_half = sys_epoll_ctl(fresh, EPOLL_CTL_ADD, event_half_fd(w), &e) == 0;
        }
    }
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = set->cookie.load(std::memory_order_relaxed);
    if (sys_epoll_ctl(set->epfd, EPOLL_CTL_ADD, fresh, &e) != 0) {
        sys_close(fresh);
        return;
    }
    sys_epoll_ctl(set->epfd, EPOLL_CTL_DEL, set->sub, nullptr);
    sys_close(set->sub);
    set->sub = fresh;
}

// Removes the sub-set's cookie from the kernel's events; returns the count left.
int drop_cookie(EpollSet* set, epoll_event* events, int count, bool* seen) {
    const uint64_t cookie = set->cookie.load(std::memory_order_relaxed);
    int kept = 0;
    for (int i = 0; i < count; ++i) {
        if (events[i].data.u64 == cookie) {
            *seen = true;
            continue;
        }
        events[kept++] = events[i];
    }
    return kept;
}

// Under the set lock: the events one half reports, in the program's terms.
uint32_t half_events(const Watch* w, Half half, uint32_t got) {
    if (w->stream) {
        if (half == kSocketHalf) return w->listening ? (got & kReadEvents) : 0;
        if ((got & EPOLLIN) == 0) return 0;
        const auto mask = static_cast<uint16_t>(fast_stream_mask(w->fd));
        return mask & (w->events | EPOLLERR | EPOLLHUP) & ~kTriggerFlags;
    }
    if (half == kSocketHalf) return got;  // already masked by the kernel
    return (got & EPOLLIN) != 0 ? (w->events & kReadEvents) : 0;
}

// Drains the sub-set into out[0, room): one event per accelerated socket,
// the program's data. The raw events are read into `out` and rewritten in
// place (each raw event yields at most one output, never ahead of it).
// Each socket reported counts a poll hit, or a miss when the call `slept`
// before (fast_path.h).
int drain_sub(EpollSet* set, epoll_event* out, int room, bool slept) {
    LockGuard guard(set->lock);
    if (room <= 0 || set->sub < 0) return 0;
    const int got = sys_epoll_wait_now(set->sub, out, room, nullptr);
    if (got <= 0) return 0;
    const uint32_t harvest = ++set->harvests;
    int produced = 0;
    bool stale = false;
    for (int i = 0; i < got; ++i) {
        const uint64_t raw_tag = out[i].data.u64;
        const uint32_t raw_events = out[i].events;
        auto* w = reinterpret_cast<Watch*>(raw_tag & kPointerMask & ~uint64_t{1});
        const Half half = static_cast<Half>(raw_tag & 1);
        if (w->set != set || !w->accelerated || w->stamp != (raw_tag >> kStampShift) ||
            !(half == kSocketHalf ? w->socket_half : w->event_half)) {
            stale = true;  // a registration without a record: never reported
            continue;
        }
        const uint32_t bits = half_events(w, half, raw_events);
        if (bits == 0) continue;
        if (w->harvest == harvest) {
            out[w->slot].events |= bits;  // the other half of a socket already reported
            continue;
        }
        const bool oneshot = (w->events & EPOLLONESHOT) != 0;
        if (oneshot && !w->armed) continue;  // a dormant half woke (EPOLLERR/HUP)
        w->harvest = harvest;
        w->slot = produced;
        if (oneshot) {
            // The kernel disarmed the half that fired; the other one is
            // quietened here, so the program sees one event until it re-arms.
            w->armed = false;
            const Half other = half == kSocketHalf ? kEventHalf : kSocketHalf;
            const bool present = other == kSocketHalf ? w->socket_half : w->event_half;
            if (present) {
                epoll_event quiet = dormant_event(w, other);
                sys_epoll_ctl(set->sub, EPOLL_CTL_MOD,
                              other == kSocketHalf ? w->fd : event_half_fd(w), &quiet);
            }
        }
        // When the sub-set has more ready halves than `room`, a socket may be
        // reported with one half now and the other in the next call.
        out[produced].events = bits;
        out[produced].data = w->data;
        ++produced;
        fast_socket_polled(w->fd, !slept);
    }
    // Left alone, a level-triggered stale registration would keep the
    // sub-set (and so the program's set) readable with nothing to report.
    if (stale) rebuild_sub(set);
    return produced;
}

// The kernel's events of `epfd` in the program's terms: the sub-set's cookie
// replaced by the sub-set's events. Only while `set` is still the record of
// `epfd` (a program may close an epoll fd under a waiting thread).
int translate_events(EpollSet* set, int epfd, epoll_event* events, int got, int maxevents,
                     bool slept, bool* only_cookie) {
    *only_cookie = false;
    if (got <= 0 || set->epfd != epfd) return got;
    bool seen = false;
    got = drop_cookie(set, events, got, &seen);
    if (seen) got += drain_sub(set, events + got, maxevents - got, slept);
    *only_cookie = seen && got == 0;
    return got;
}

// One non-blocking round: the program's kernel events, then the sub-set's.
int collect(EpollSet* set, int epfd, epoll_event* events, int maxevents, const sigset_t* sigmask) {
    const int got = sys_epoll_wait_now(epfd, events, maxevents, sigmask);
    bool only_cookie = false;
    return translate_events(set, epfd, events, got, maxevents, false, &only_cookie);
}

int kernel_sleep(int epfd, epoll_event* events, int maxevents, const Deadline& deadline,
                 const sigset_t* sigmask) {
    timespec left{};
    const timespec* timeout = nullptr;
    if (!deadline.infinite()) {
        left = deadline.remaining();
        timeout = &left;
    }
    // libc's call: a cancellation point, as epoll_wait is.
    const int ret = libc::epoll_pwait2(epfd, events, maxevents, timeout, sigmask);
    if (ret >= 0 || errno != ENOSYS) return ret;
    // Kernels before 5.11: milliseconds, rounded up so the wait is never short.
    int ms = -1;
    if (timeout != nullptr) {
        const long long total =
            static_cast<long long>(left.tv_sec) * 1000 + (left.tv_nsec + 999999) / 1000000;
        ms = total > INT_MAX ? INT_MAX : static_cast<int>(total);
    }
    return libc::epoll_pwait(epfd, events, maxevents, ms, sigmask);
}

// Sleeps in the kernel until the program has an event, an error (EINTR) or
// the deadline. Always enters the kernel once, even at a passed deadline, so
// a pending signal that `mask` lets through is reported as EINTR.
int sleep_accelerated(EpollSet* set, int epfd, epoll_event* events, int maxevents,
                      const Deadline& deadline, const sigset_t* mask) {
    for (;;) {
        int got = kernel_sleep(epfd, events, maxevents, deadline, mask);
        bool only_cookie = false;
        got = translate_events(set, epfd, events, got, maxevents, true, &only_cookie);
        // Only the cookie, and another thread drained the sub-set first: the
        // program has nothing yet, so the wait goes on for the time left.
        if (!only_cookie) return got;
        if (deadline.passed()) return 0;
    }
}

int wait_accelerated(EpollSet* set, int epfd, epoll_event* events, int maxevents,
                     const Deadline& deadline, const sigset_t* sigmask) {
    // A zero-timeout call (a busy-polling loop) takes what the rings hold in
    // itself first, rather than leaving it to the progress thread's wake-up.
    const bool immediate = deadline.immediate();
    if (immediate && set->accelerated.load(std::memory_order_relaxed) > 0) fast_path_poll_once();
    int got = collect(set, epfd, events, maxevents, sigmask);
    if (immediate) note_immediate_poll(got == 0);
    if (got != 0 || immediate) return got;

    const unsigned spin_us =
        set->accelerated.load(std::memory_order_relaxed) > 0 ? fast_path_spin_us() : 0;
    if (spin_us == 0) {
        fast_path_poll_once();  // also sends what the fast path left for a batched TX wake-up
        fast_path_rx_polling_stopped();
        return sleep_accelerated(set, epfd, events, maxevents, deadline, sigmask);
    }
    // Spinning: every signal held until the sleep, which applies the call's
    // mask atomically (SpinSignals in readiness_support.h says why).
    DeferredSpinSignals signals(sigmask);
    RxSpin rx_spin;  // the progress thread leaves the rings to us meanwhile
    rx_spin.begin();
    const Deadline spin_end = deadline.capped_us(spin_us);
    SpinYield yield;
    while (!spin_end.passed() && !signals.pending() && !yield.cpu_wanted()) {
        fast_path_poll_once();
        got = collect(set, epfd, events, maxevents, nullptr);
        if (got != 0) return got;
    }
    rx_spin.sleeping();
    return sleep_accelerated(set, epfd, events, maxevents, deadline, signals.sleep_mask());
}

void destroy_set(int epfd) {
    EpollSet* set = g_sets[epfd].exchange(nullptr, std::memory_order_acq_rel);
    if (set == nullptr) return;
    for (;;) {
        int fd = -1;
        {
            LockGuard guard(set->lock);
            if (set->watches == nullptr) break;
            fd = set->watches->fd;
        }
        LockGuard fd_guard(stripe_of(fd));
        LockGuard guard(set->lock);
        Watch* w = set->watches;
        while (w != nullptr) {
            Watch* next = w->next_of_set;
            if (w->fd == fd) {
                if (w->accelerated) set->accelerated.fetch_sub(1, std::memory_order_relaxed);
                w->accelerated = false;  // the sub-set goes away with its registrations
                close_own_event_fd(w);
                unlink_and_free(w);
            }
            w = next;
        }
    }
    {
        LockGuard guard(set->lock);
        if (set->sub >= 0) sys_close(set->sub);
        set->sub = -1;
        set->sub_registered.store(false, std::memory_order_release);
    }
    // After the unlock, which writes the lock word: the pool's free list
    // lives in the block. The block is recycled, never unmapped: a thread
    // still inside a wait on the closed fd reads a valid (if reused) record.
    g_set_pool.release(set);
}

}  // namespace

int epoll_ctl_mixed(int epfd, int op, int fd, epoll_event* event) {
    const bool has_event = op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD;
    // EFAULT for a missing event, fds beyond the tables, the engine's own
    // epoll set (its calls carry the engine mark): the kernel's business.
    if ((has_event && event == nullptr) || !in_range(fd) || !in_range(epfd) ||
        !(udp_candidate(fd) || fast_stream_socket(fd)) || inside_engine()) {
        const int ret = libc::epoll_ctl(epfd, op, fd, event);
        if (ret == 0) avoid_cookie(epfd, op, event);
        return ret;
    }
    const int ret = ctl_udp(epfd, op, fd, event);
    if (ret == 0) avoid_cookie(epfd, op, event);
    return ret;
}

int epoll_wait_mixed(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                     const sigset_t* sigmask, KernelEpollWait pass_through) {
    if (!in_range(epfd) || inside_engine()) return pass_through.call(pass_through.context);
    EpollSet* set = g_sets[epfd].load(std::memory_order_acquire);
    if (set != nullptr && set->accelerated.load(std::memory_order_relaxed) > 0)
        return wait_accelerated(set, epfd, events, maxevents,
                                timeout != nullptr ? Deadline::after(*timeout) : Deadline::never(),
                                sigmask);

    // No accelerated socket: the program's own call. Another thread may add
    // one meanwhile, making the sub-set's cookie appear in this very call, so
    // a successful return is checked (one more load) and the cookie dropped;
    // a return holding nothing else goes on waiting for the time left.
    // The clock is read only for sets that hold UDP sockets (any record).
    const bool timed = set != nullptr && timeout != nullptr;
    const Deadline deadline = timed ? Deadline::after(*timeout) : Deadline::never();
    int got = spin_kernel_epoll(epfd, events, maxevents, timeout, sigmask);  // XLANE_SPIN_KERNEL
    if (got == kSpinGaveUp) got = pass_through.call(pass_through.context);
    if (got <= 0) return got;
    set = g_sets[epfd].load(std::memory_order_acquire);
    if (set == nullptr || !set->sub_registered.load(std::memory_order_acquire)) return got;
    bool only_cookie = false;
    // The program's own call may have slept: a socket it reports is a miss.
    got = translate_events(set, epfd, events, got, maxevents, true, &only_cookie);
    if (!only_cookie) return got;
    if (timed || timeout == nullptr)
        return wait_accelerated(set, epfd, events, maxevents, deadline, sigmask);
    // The set's first UDP socket came during the call, whose start was not
    // taken: the full timeout again (late, as a busy kernel may be; never early).
    return wait_accelerated(set, epfd, events, maxevents, Deadline::after(*timeout), sigmask);
}

void epoll_on_fd_reused(int fd) {
    epoll_on_fd_closed(fd);
}

void epoll_on_fd_closed(int fd) {
    if (!in_range(fd)) return;
    if (g_sets[fd].load(std::memory_order_acquire) != nullptr) destroy_set(fd);
    if (g_fd_watches[fd].load(std::memory_order_relaxed) == nullptr) return;
    LockGuard fd_guard(stripe_of(fd));
    Watch* w = g_fd_watches[fd].load(std::memory_order_relaxed);
    while (w != nullptr) {
        Watch* next = w->next_of_fd;
        EpollSet* set = w->set;
        LockGuard guard(set->lock);
        if (w->accelerated) {
            detach_halves(w);  // the eventfd outlives the fd: its half must go now
            w->accelerated = false;
            set->accelerated.fetch_sub(1, std::memory_order_relaxed);
        }
        unlink_and_free(w);
        w = next;
    }
}

void epoll_on_fd_range_closed(unsigned first, unsigned last) {
    // Only fds below both high-water marks can have a record: closefrom(3)
    // does not walk the whole table.
    const int end = std::max(g_sets_end.load(std::memory_order_acquire),
                             g_watches_end.load(std::memory_order_acquire));
    for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(end); ++fd)
        epoll_on_fd_closed(static_cast<int>(fd));
}

void epoll_on_socket_accelerated(int fd) {
    note_accelerated_socket();
    if (!in_range(fd) || g_fd_watches[fd].load(std::memory_order_relaxed) == nullptr) return;
    LockGuard fd_guard(stripe_of(fd));
    int event_fd = -1;
    if (!fast_socket_event_fd(fd, &event_fd)) return;
    Watch* w = g_fd_watches[fd].load(std::memory_order_relaxed);
    while (w != nullptr) {
        Watch* next = w->next_of_fd;  // promote() may free a stale record
        if (!w->accelerated) promote(w, event_fd);
        w = next;
    }
}

void epoll_on_socket_released(int fd) {
    if (!in_range(fd) || g_fd_watches[fd].load(std::memory_order_relaxed) == nullptr) return;
    LockGuard fd_guard(stripe_of(fd));
    Watch* w = g_fd_watches[fd].load(std::memory_order_relaxed);
    while (w != nullptr) {
        Watch* next = w->next_of_fd;  // demote() may free a record it cannot re-add
        if (w->accelerated) demote(w);
        w = next;
    }
}

}  // namespace xlane::preload
