// The poll/select multiplexer. The caller's array is translated into one the
// kernel can wait on: each accelerated fd keeps its slot without POLLIN (its
// kernel socket's queue is drained by the engine, so the socket's own POLLIN
// means nothing) and gains an extra slot for its eventfd; the kernel's answer
// is folded back slot by slot. Async-signal-safe as far as our code goes
// (no lock, no malloc: ScratchArray maps memory with a system call).
#include "readiness_poll.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "fast_path.h"
#include "libc_table.h"

namespace xlane::preload {
namespace {

constexpr size_t kKernelSigsetSize = _NSIG / 8;
constexpr size_t kInlineFds = 64;
constexpr size_t kBitsPerWord = sizeof(unsigned long) * CHAR_BIT;
// No fd at or above the socket table's capacity is ever accelerated, and no
// larger array can be valid under the default fs.nr_open.
constexpr nfds_t kMaxScannedFds = 1U << 20;

// The kernel's select() readiness sets (fs/select.c POLLIN_SET & co).
constexpr short kSelectRead = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
constexpr short kSelectWrite = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
constexpr short kSelectExcept = POLLPRI;

// One non-blocking look at the translated set; not a cancellation point (raw
// system call), so it can run between the spin iterations freely.
int poll_now(pollfd* fds, nfds_t nfds, const sigset_t* sigmask) {
    timespec zero{0, 0};
    return static_cast<int>(::syscall(SYS_ppoll, fds, nfds, &zero, sigmask, kKernelSigsetSize));
}

// The translated set: the caller's slots first (same order), then one eventfd
// slot per accelerated fd that asked for POLLIN; owner[j] is the caller's slot
// of eventfd slot j. accelerated[k]: the caller's slots of accelerated fds
// (for the poll hit/miss counters). holds[j]: the interest a TCP socket's
// eventfd slot j holds for the call (hold 0: none, a UDP socket's slot).
struct InterestHeld {
    uint32_t hold;
    short events;
};

struct Translation {
    pollfd* fds;
    nfds_t* owner;
    nfds_t* accelerated;
    InterestHeld* holds;
    nfds_t user_count;
    nfds_t event_count;
    nfds_t accelerated_count;
};

// Lets go of the TCP sockets' interests when the call ends, however it ends
// (thread cancellation in the sleep included).
class HeldInterests {
  public:
    explicit HeldInterests(const Translation& t) : t_(t) {}
    ~HeldInterests() {
        for (nfds_t j = 0; j < t_.event_count; ++j)
            fast_stream_release(t_.holds[j].hold, t_.holds[j].events);
    }
    HeldInterests(const HeldInterests&) = delete;
    HeldInterests& operator=(const HeldInterests&) = delete;

  private:
    const Translation& t_;
};

void translate(const pollfd* user, nfds_t nfds, size_t max_event_slots, size_t max_accelerated,
               Translation& t) {
    t.user_count = nfds;
    t.event_count = 0;
    t.accelerated_count = 0;
    for (nfds_t i = 0; i < nfds; ++i) {
        t.fds[i] = pollfd{user[i].fd, user[i].events, 0};
        int event_fd = -1;
        bool listening = false;
        uint32_t hold = 0;
        if (user[i].fd >= 0 && t.event_count < max_event_slots &&
            t.accelerated_count < max_accelerated &&
            fast_stream_event_fd(user[i].fd, user[i].events, false, &event_fd, &listening,
                                 &hold)) {
            // A TCP socket's whole readiness comes from its eventfd (the
            // engine's mask); the shadow socket's own (HUP: unconnected)
            // means nothing, except a listener's POLLIN for the clients
            // the kernel queued on it.
            t.accelerated[t.accelerated_count++] = i;
            if (listening)
                t.fds[i].events = static_cast<short>(user[i].events & kPollReadBits);
            else
                t.fds[i].fd = -1;
            t.fds[nfds + t.event_count] = pollfd{event_fd, POLLIN, 0};
            t.holds[t.event_count] = InterestHeld{hold, user[i].events};
            t.owner[t.event_count++] = i;
            continue;
        }
        // A race with a socket accelerated since the counting pass leaves the
        // extra one on its kernel readiness for this call (it has no slot).
        if (user[i].fd < 0 || t.event_count == max_event_slots ||
            t.accelerated_count == max_accelerated || !fast_socket_event_fd(user[i].fd, &event_fd))
            continue;
        t.accelerated[t.accelerated_count++] = i;
        t.fds[i].events = static_cast<short>(user[i].events & ~kPollReadBits);
        if ((user[i].events & kPollReadBits) == 0) continue;
        t.fds[nfds + t.event_count] = pollfd{event_fd, POLLIN, 0};
        t.holds[t.event_count] = InterestHeld{0, 0};
        t.owner[t.event_count++] = i;
    }
}

// Folds the kernel's revents back into the caller's array; returns the count
// poll() reports: fds with non-zero revents.
int fold_back(const Translation& t, pollfd* user) {
    for (nfds_t i = 0; i < t.user_count; ++i) user[i].revents = t.fds[i].revents;
    for (nfds_t j = 0; j < t.event_count; ++j) {
        if ((t.fds[t.user_count + j].revents & POLLIN) == 0) continue;
        pollfd& owner = user[t.owner[j]];
        if (fast_stream_socket(owner.fd)) {
            const short mask = fast_stream_mask(owner.fd);
            owner.revents =
                static_cast<short>(owner.revents | (mask & (owner.events | POLLERR | POLLHUP)));
            continue;
        }
        owner.revents = static_cast<short>(owner.revents | (owner.events & kPollReadBits));
    }
    int ready = 0;
    for (nfds_t i = 0; i < t.user_count; ++i) ready += user[i].revents != 0 ? 1 : 0;
    return ready;
}

// A hit for each accelerated fd reported ready without a sleep, else a miss
// (fast_path.h defines both). Leaves errno alone.
void count_polls(const Translation& t, const pollfd* user, int ret, bool slept) {
    for (nfds_t k = 0; k < t.accelerated_count; ++k) {
        const pollfd& slot = user[t.accelerated[k]];
        fast_socket_polled(slot.fd, ret > 0 && !slept && slot.revents != 0);
    }
}

// `slept`: the answer came from a sleep in the kernel, not a look.
int finish(int ret, const Translation& t, pollfd* user, bool slept) {
    if (ret >= 0) {
        ret = fold_back(t, user);
    } else if (errno == EINTR) {
        // The kernel copies revents back even when interrupted (all zero).
        for (nfds_t i = 0; i < t.user_count; ++i) user[i].revents = 0;
    }
    count_polls(t, user, ret, slept);
    return ret;
}

// The sleep goes through libc's ppoll: a cancellation point, as poll is. A
// passed deadline still polls once (zero timeout), so a pending signal that
// the mask lets through is reported as EINTR, as the kernel would.
int sleep_translated(const Translation& t, const Deadline& deadline, const sigset_t* mask) {
    const nfds_t total = t.user_count + t.event_count;
    if (deadline.infinite()) return libc::ppoll(t.fds, total, nullptr, mask);
    const timespec left = deadline.remaining();
    return libc::ppoll(t.fds, total, &left, mask);
}

// The kernel's count `ret` for the translated set, made 0 when it holds
// nothing the caller asked for: a TCP socket's eventfd serves all the
// socket's watchers, so another one's interest (an epoll registration for
// EPOLLOUT, say) can make it readable for this call.
int unless_only_others(int ret, const Translation& t, pollfd* user) {
    return ret > 0 && fold_back(t, user) == 0 ? 0 : ret;
}

// Sleeps in the kernel until the caller has an event, an error or the deadline.
int sleep_for_caller(const Translation& t, pollfd* user, const Deadline& deadline,
                     const sigset_t* mask) {
    for (;;) {
        const int ret = sleep_translated(t, deadline, mask);
        if (unless_only_others(ret, t, user) != 0 || ret <= 0 || deadline.passed()) return ret;
    }
}

// Whether caller slot `i`'s whole readiness is the engine's: a connected TCP
// socket, whose kernel slot translate() hid (fd -1).
bool engine_answers(const Translation& t, const pollfd* user, nfds_t i) {
    return t.fds[i].fd == -1 && fast_stream_socket(user[i].fd);
}

// ready_without_kernel()'s answer: the count of the caller's slots an
// accelerated TCP socket makes ready, their revents set, every other slot's
// cleared, and each answered socket counted as a poll hit or miss; 0
// (revents untouched) when none is. The engine's bits wait in the hidden
// kernel slots meanwhile (the kernel never reports on fd -1).
int engine_answer(pollfd* user, const Translation& t) {
    int ready = 0;
    for (nfds_t k = 0; k < t.accelerated_count; ++k) {
        const nfds_t i = t.accelerated[k];
        if (!engine_answers(t, user, i)) continue;
        t.fds[i].revents = static_cast<short>(fast_stream_mask(user[i].fd) &
                                              (user[i].events | POLLERR | POLLHUP));
        ready += t.fds[i].revents != 0 ? 1 : 0;
    }
    if (ready == 0) return 0;
    for (nfds_t i = 0; i < t.user_count; ++i) user[i].revents = 0;
    for (nfds_t k = 0; k < t.accelerated_count; ++k) {
        const nfds_t i = t.accelerated[k];
        if (!engine_answers(t, user, i)) continue;  // not looked at: no hit, no miss
        user[i].revents = t.fds[i].revents;
        fast_socket_polled(user[i].fd, user[i].revents != 0);
    }
    return ready;
}

// Calls in a row of this thread answered by ready_without_kernel().
// Initial-exec TLS, as all of the library's: no __tls_get_addr (which may
// allocate) in a path a signal handler may take.
constinit thread_local unsigned t_kernel_looks_skipped
    __attribute__((tls_model("initial-exec"))) = 0;

// A poll/select that finds an accelerated TCP socket ready answers from the
// engine alone, without the system call that asks the kernel about the rest
// of the set, except once every XLANE_POLL_OS_RATIO calls in a row: a loop
// that polls a busy stream (iperf3's select) made one ppoll per read. Every
// slot the engine does not answer for (kernel fds, UDP and listening
// sockets, whose readiness is partly the kernel's) reads as not ready, and
// is reported by the next look (a closed one's POLLNVAL, or select's EBADF,
// included). Returns the caller's count, 0 (revents unset) when the kernel
// must look. A signal mask always goes to the kernel: its pending signals
// are part of the answer.
int ready_without_kernel(pollfd* user, const Translation& t, const sigset_t* sigmask) {
    const unsigned ratio = fast_path_poll_os_ratio();
    if (ratio <= 1 || sigmask != nullptr || t_kernel_looks_skipped + 1 >= ratio) {
        t_kernel_looks_skipped = 0;  // the kernel looks now
        return 0;
    }
    const int ready = engine_answer(user, t);
    // No answer: the kernel looks now.
    t_kernel_looks_skipped = ready > 0 ? t_kernel_looks_skipped + 1 : 0;
    return ready;
}

// Waits on the translated set: a look, then spinning on the fast path while
// XLANE_SPIN_US allows, then sleeping in the kernel for the time left.
int wait_translated(pollfd* user, const Translation& t, const Deadline& deadline,
                    const sigset_t* sigmask) {
    const nfds_t total = t.user_count + t.event_count;
    // A zero-timeout call (a busy-polling loop) takes what the rings hold in
    // itself first, rather than leaving it to the progress thread's wake-up.
    const bool immediate = deadline.immediate();
    if (immediate) fast_path_poll_once();
    if (const int ready = ready_without_kernel(user, t, sigmask); ready > 0) {
        if (immediate) note_immediate_poll(false);
        return ready;
    }
    int ret = unless_only_others(poll_now(t.fds, total, sigmask), t, user);
    if (immediate) note_immediate_poll(ret == 0);
    if (ret != 0 || immediate) return finish(ret, t, user, false);

    const unsigned spin_us = fast_path_spin_us();
    if (spin_us == 0) {
        fast_path_poll_once();  // also sends what the fast path left for a batched TX wake-up
        fast_path_rx_polling_stopped();
        return finish(sleep_for_caller(t, user, deadline, sigmask), t, user, true);
    }
    // Spinning: every signal held until the sleep, which applies the call's
    // mask atomically (SpinSignals says why).
    DeferredSpinSignals signals(sigmask);
    RxSpin rx_spin;  // the progress thread leaves the rings to us meanwhile
    rx_spin.begin();
    const Deadline spin_end = deadline.capped_us(spin_us);
    SpinYield yield;
    while (!spin_end.passed() && !signals.pending() && !yield.cpu_wanted()) {
        fast_path_poll_once();
        if (const int ready = ready_without_kernel(user, t, nullptr); ready > 0) return ready;
        ret = unless_only_others(poll_now(t.fds, total, nullptr), t, user);
        if (ret != 0) return finish(ret, t, user, false);
    }
    rx_spin.sleeping();
    return finish(sleep_for_caller(t, user, deadline, signals.sleep_mask()), t, user, true);
}

size_t words_for(int nfds) {
    return (static_cast<size_t>(nfds) + kBitsPerWord - 1) / kBitsPerWord;
}

unsigned long* words_of(fd_set* set) {
    return reinterpret_cast<unsigned long*>(set);
}

unsigned long word_at(fd_set* set, size_t w) {
    return set != nullptr ? words_of(set)[w] : 0UL;
}

bool bit_at(fd_set* set, int fd) {
    return (word_at(set, static_cast<size_t>(fd) / kBitsPerWord) >>
            (static_cast<size_t>(fd) % kBitsPerWord)) &
           1UL;
}

// Calls `visit(fd)` for every fd below nfds named in any of the three sets.
template <typename Visit>
void for_each_selected(int nfds, fd_set* r, fd_set* w, fd_set* e, Visit&& visit) {
    const size_t words = words_for(nfds);
    for (size_t i = 0; i < words; ++i) {
        unsigned long bits = word_at(r, i) | word_at(w, i) | word_at(e, i);
        const size_t base = i * kBitsPerWord;
        if (base + kBitsPerWord > static_cast<size_t>(nfds))
            bits &= (1UL << (static_cast<size_t>(nfds) - base)) - 1UL;
        while (bits != 0) {
            const int bit = __builtin_ctzl(bits);
            bits &= bits - 1;
            visit(static_cast<int>(base) + bit);
        }
    }
}

// select() as poll(): one pollfd per selected fd, then the kernel's mapping
// of revents back to the three sets.
int select_polled(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, size_t selected,
                  const Deadline& deadline, const sigset_t* sigmask) {
    ScratchArray<pollfd, kInlineFds> polled(selected);
    if (polled.data() == nullptr) {
        errno = ENOMEM;
        return -1;
    }
    pollfd* p = polled.data();
    nfds_t count = 0;
    for_each_selected(nfds, readfds, writefds, exceptfds, [&](int fd) {
        short events = 0;
        if (bit_at(readfds, fd)) events |= POLLIN | POLLRDNORM | POLLRDBAND;
        if (bit_at(writefds, fd)) events |= POLLOUT | POLLWRNORM | POLLWRBAND;
        if (bit_at(exceptfds, fd)) events |= POLLPRI;
        p[count++] = pollfd{fd, events, 0};
    });

    int ret = poll_mixed_until(p, count, deadline, sigmask);
    if (ret == kNoAcceleratedFd) {
        // Every accelerated fd went back to the kernel since the scan: wait
        // on the plain set (same semantics, the sets are read below).
        if (deadline.infinite()) {
            ret = libc::ppoll(p, count, nullptr, sigmask);
        } else {
            const timespec left = deadline.remaining();
            ret = libc::ppoll(p, count, &left, sigmask);
        }
    }
    if (ret < 0) return ret;
    for (nfds_t i = 0; i < count; ++i) {
        if ((p[i].revents & POLLNVAL) != 0) {
            errno = EBADF;  // select refuses a closed fd instead of reporting it
            return -1;
        }
    }

    // Only now are the caller's sets rewritten: on error they stay untouched.
    const size_t words = words_for(nfds);
    for (fd_set* set : {readfds, writefds, exceptfds}) {
        if (set == nullptr) continue;
        for (size_t i = 0; i < words; ++i) words_of(set)[i] = 0;
    }
    int bits = 0;
    for (nfds_t i = 0; i < count; ++i) {
        const int fd = p[i].fd;
        const unsigned long mask = 1UL << (static_cast<size_t>(fd) % kBitsPerWord);
        const size_t w = static_cast<size_t>(fd) / kBitsPerWord;
        const short got = p[i].revents;
        if ((p[i].events & POLLIN) != 0 && (got & kSelectRead) != 0) {
            words_of(readfds)[w] |= mask;
            ++bits;
        }
        if ((p[i].events & POLLOUT) != 0 && (got & kSelectWrite) != 0) {
            words_of(writefds)[w] |= mask;
            ++bits;
        }
        if ((p[i].events & POLLPRI) != 0 && (got & kSelectExcept) != 0) {
            words_of(exceptfds)[w] |= mask;
            ++bits;
        }
    }
    return bits;
}

}  // namespace

int poll_mixed(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask) {
    // Beyond any possible RLIMIT_NOFILE of ours: the kernel's EINVAL, unread.
    if (!accelerated_socket_seen() || nfds > kMaxScannedFds) return kNoAcceleratedFd;
    for (nfds_t i = 0; i < nfds; ++i) {
        int event_fd = -1;
        if (fds[i].fd >= 0 && fast_socket_event_fd(fds[i].fd, &event_fd)) {
            // The engine's own waits (progress thread) are plain kernel calls.
            if (inside_engine()) return kNoAcceleratedFd;
            // The deadline starts here, not at entry: the scan is all that a
            // call without accelerated fds costs.
            const Deadline deadline =
                timeout != nullptr ? Deadline::after(*timeout) : Deadline::never();
            return poll_mixed_until(fds, nfds, deadline, sigmask);
        }
    }
    return kNoAcceleratedFd;
}

int poll_mixed_until(pollfd* fds, nfds_t nfds, const Deadline& deadline, const sigset_t* sigmask) {
    size_t accelerated = 0;
    size_t read_slots = 0;
    for (nfds_t i = 0; i < nfds; ++i) {
        int event_fd = -1;
        if (fds[i].fd < 0 || !fast_socket_event_fd(fds[i].fd, &event_fd)) continue;
        ++accelerated;
        if ((fds[i].events & kPollReadBits) != 0 || fast_stream_socket(fds[i].fd)) ++read_slots;
    }
    if (accelerated == 0) return kNoAcceleratedFd;

    ScratchArray<pollfd, kInlineFds> translated(nfds + read_slots);
    ScratchArray<nfds_t, kInlineFds> owner(read_slots);
    ScratchArray<nfds_t, kInlineFds> accelerated_slots(accelerated);
    ScratchArray<InterestHeld, kInlineFds> holds(read_slots);
    if (translated.data() == nullptr || owner.data() == nullptr ||
        accelerated_slots.data() == nullptr || holds.data() == nullptr) {
        errno = ENOMEM;  // poll(2) documents ENOMEM for this very case
        return -1;
    }
    Translation t{translated.data(), owner.data(), accelerated_slots.data(), holds.data(),
                  0, 0, 0};
    const HeldInterests held(t);
    translate(fds, nfds, read_slots, accelerated, t);
    return wait_translated(fds, t, deadline, sigmask);
}

int select_mixed(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                 const timespec* timeout, const sigset_t* sigmask, timespec* left) {
    // nfds <= 0: EINVAL or a plain sleep, the kernel's call.
    if (!accelerated_socket_seen() || nfds <= 0 || static_cast<nfds_t>(nfds) > kMaxScannedFds)
        return kNoAcceleratedFd;
    size_t selected = 0;
    bool any_accelerated = false;
    for_each_selected(nfds, readfds, writefds, exceptfds, [&](int fd) {
        ++selected;
        int event_fd = -1;
        if (!any_accelerated && fast_socket_event_fd(fd, &event_fd)) any_accelerated = true;
    });
    if (!any_accelerated || inside_engine()) return kNoAcceleratedFd;

    const Deadline deadline = timeout != nullptr ? Deadline::after(*timeout) : Deadline::never();
    const int ret = select_polled(nfds, readfds, writefds, exceptfds, selected, deadline, sigmask);
    if (left != nullptr && (ret >= 0 || errno == EINTR)) {
        const int saved = errno;
        *left = deadline.remaining();
        errno = saved;
    }
    return ret;
}

}  // namespace xlane::preload
