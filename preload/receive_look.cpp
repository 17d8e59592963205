#include "receive_look.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "libc_table.h"
#include "loopback_splice.h"
#include "socket_table.h"

namespace xlane::preload {

namespace libc = xlane::preload::libc;

namespace {

// Two empty receives in a row make a spinner; an event loop reads until one
// EAGAIN and then waits, so it never looks (and never pays the extra poll).
// The loopback path's own spinning-receiver mark (kDefaultSpinReads, 8) is
// above this: a spinner under the library keeps the redirect.
constexpr uint32_t kEmptyReceivesBeforeLooking = 2;

// The flags a receive may carry and still be answered by a look.
constexpr int kLookableFlags =
    MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_WAITALL | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC;

enum class Lookable : uint8_t { kUnknown, kNo, kYes };

// One socket per thread: a spinner spins on one socket at a time.
struct ThreadLook {
    int fd = -1;
    uint64_t generation = 0;
    uint32_t empty_in_row = 0;
    Lookable lookable = Lookable::kUnknown;
    bool nonblocking = false;  // O_NONBLOCK when `lookable` was decided
};

constinit thread_local ThreadLook t_look __attribute__((tls_model("initial-exec")));

// Bumped by forget_receive_looks(); a thread's decision holds for one value.
constinit std::atomic<uint64_t> g_generation{1};

bool is_tcp_entry(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry && entry->inet_stream();
}

// A few system calls, once per (thread, socket, generation).
Lookable decide(int fd, bool* nonblocking) {
    const int status = libc::fcntl(fd, F_GETFL);
    int mark = 0;
    socklen_t len = sizeof(mark);
    if (status < 0 || libc::getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &mark, &len) != 0 ||
        mark > 1)
        return Lookable::kNo;
    *nonblocking = (status & O_NONBLOCK) != 0;
    // Only the sk_msg redirect sleeps on the spinner's lock; the kernel's own
    // TCP queues behind an owned lock (the socket backlog) without sleeping.
    return loopback_may_redirect_into(fd) ? Lookable::kYes : Lookable::kNo;
}

}  // namespace

bool receive_found_empty_without_lock(int fd, int flags) {
    ThreadLook& look = t_look;
    if (look.fd != fd || look.empty_in_row < kEmptyReceivesBeforeLooking) return false;
    if ((flags & ~kLookableFlags) != 0) return false;
    const uint64_t generation = g_generation.load(std::memory_order_acquire);
    if (look.lookable == Lookable::kUnknown || look.generation != generation) {
        // Decided into locals: a signal handler's receive meanwhile may make
        // `look` another fd's record, which this decision must not land in.
        const int saved = errno;
        bool nonblocking = false;
        const Lookable lookable = is_tcp_entry(fd) ? decide(fd, &nonblocking) : Lookable::kNo;
        errno = saved;
        if (look.fd != fd) return false;
        // Something changed an fd's socket, mode or mark (close, dup, fcntl,
        // ...), maybe this one's: decided again, but the run of empty
        // receives carries over, so a change elsewhere in the process does
        // not send this spinner's receives to the kernel again (where the
        // loopback path's spinning-receiver mark counts them). Even if the
        // fd now names another socket, the look stays exact: decide() only
        // accepts a TCP socket the loopback path may redirect into (inserted
        // when established), and poll() reports what would make its receive
        // differ from EAGAIN (data, EOF, an error, not connected).
        look.generation = generation;
        look.lookable = lookable;
        look.nonblocking = nonblocking;
    }
    if (look.lookable != Lookable::kYes) return false;
    if ((flags & MSG_DONTWAIT) == 0 && !look.nonblocking) return false;
    const int saved = errno;
    pollfd readable{fd, POLLIN, 0};
    if (libc::poll(&readable, 1, 0) != 0) {  // something to read or report, or poll failed
        errno = saved;
        return false;
    }
    errno = EAGAIN;
    return true;
}

void note_kernel_receive(int fd, ssize_t ret) {
    ThreadLook& look = t_look;
    if (ret >= 0 || errno != EAGAIN) {
        if (look.fd == fd) look.empty_in_row = 0;
        return;
    }
    // A record of an older generation is checked at the next look (same
    // socket or not), so that the run it counts survives a bump.
    if (look.fd != fd) {
        look = ThreadLook{};
        look.fd = fd;
        look.generation = g_generation.load(std::memory_order_acquire);
    }
    if (look.empty_in_row < kEmptyReceivesBeforeLooking) ++look.empty_in_row;
}

void forget_receive_looks() {
    g_generation.fetch_add(1, std::memory_order_acq_rel);
}

bool forget_receive_looks_of(int fd) {
    if (!is_tcp_entry(fd)) return false;
    forget_receive_looks();
    return true;
}

}  // namespace xlane::preload
