// The contract between the UDP fast path (fast_path.cpp, owner: the data-path
// wrappers in interpose_socket.cpp / interpose_io.cpp / interpose_fd.cpp) and
// the readiness multiplexers (interpose_poll.cpp, interpose_epoll.cpp).
//
// An accelerated socket's fd is its kernel "shadow" socket (bound, port
// reserved); datagrams that arrive on the AF_XDP rings wait in user space,
// and a per-socket eventfd is readable exactly while that queue is non-empty
// (the engine also moves anything the kernel socket receives into the same
// queue). So for readiness:
//   - POLLIN/EPOLLIN of an accelerated fd  = POLLIN of its eventfd;
//   - POLLOUT, POLLERR, POLLHUP            = those of the fd itself (kernel).
// Every function here is safe to call from any thread, at any time, and
// costs one table lookup for fds that are not accelerated.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>

namespace xlane::preload {

// True when `fd` is served by the fast path in this process; then
// *event_fd is the eventfd that carries its POLLIN readiness.
bool fast_socket_event_fd(int fd, int* event_fd);

// Datagrams waiting in user space for `fd` (0 for any other fd).
size_t fast_socket_queued(int fd);

// TCP sockets on the fast path (fast_tcp.cpp) take ALL their readiness from
// the engine: the shadow socket's own (POLLHUP: never connected) means
// nothing. fast_stream_event_fd: true when `fd` is one; it holds an interest
// in `events`, *event_fd is readable while its mask meets them (or ERR/HUP),
// and *listening says whether the fd's own POLLIN counts too (clients the
// kernel queued on a listener). fast_stream_mask: its poll mask now, as
// Linux's tcp_poll would give it. fast_stream_socket: the cheap test.
// The interest is held (*hold, 0 if it could not be) until
// fast_stream_release(*hold, events): every watcher's interest counts.
// `edge_triggered`: an EPOLLET registration will watch *event_fd, which
// must then be written again on every new event.
bool fast_stream_event_fd(int fd, short events, bool edge_triggered, int* event_fd,
                          bool* listening, uint32_t* hold);
void fast_stream_release(uint32_t hold, short events);
short fast_stream_mask(int fd);
bool fast_stream_socket(int fd);

// Drives RX once on every AF_XDP port (non-blocking), and wakes the kernel
// for TX frames left for a batched wake-up: used by blocking calls while
// they spin, and before they sleep.
void fast_path_poll_once();

// This thread busy-polls the RX rings (a spin of a blocking call): the
// engine's progress thread then does not sleep on the AF_XDP sockets, whose
// every frame would wake it only to take this thread's CPU and the engine
// mutex (UdpEngine::rx_spin_begin). Returns a token for the end (nullptr: no
// engine). `to_sleep`: the thread now sleeps (the last spinner to sleep
// hands the rings back to the progress thread at once).
void* fast_path_rx_spin_begin();
void fast_path_rx_spin_end(void* token, bool to_sleep);

// Empty non-blocking receives (or zero-timeout multiplexer calls) in a row
// after which a thread counts as polling the rings. An event loop reads
// until one EAGAIN and then waits for readiness, so it never does.
inline constexpr unsigned kPollingAgain = 2;

// This thread's non-blocking receives keep coming back empty: it polls the
// rings between its calls, and the progress thread leaves them to it for a
// short lease (UdpEngine::renew_poller_lease; the UDP receive renews it itself).
void fast_path_rx_polled_empty();
// This thread is about to sleep: a lease it held ends now (the progress
// thread watches the rings again at once). Costs an atomic load otherwise.
void fast_path_rx_polling_stopped();

// The scope of such a spin: begin() starts it, sleeping() ends it before
// the thread sleeps, and the destructor ends it if neither did. Thread
// cancellation waits meanwhile (it then acts in the sleep, a cancellation
// point, or at the next one): the spin reaches cancellation points (the
// engine's recvfrom and sendto wake-ups of the rings), and the forced unwind
// from one skips this destructor in code built without exceptions (the
// multiplexers), which would leave the progress thread off the rings for good.
class RxSpin {
  public:
    RxSpin() = default;
    ~RxSpin() { end(false); }
    RxSpin(const RxSpin&) = delete;
    RxSpin& operator=(const RxSpin&) = delete;
    void begin() {
        if (token_ != nullptr) return;
        (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state_);
        token_ = fast_path_rx_spin_begin();
        if (token_ == nullptr) (void)pthread_setcancelstate(cancel_state_, nullptr);
    }
    void sleeping() { end(true); }

  private:
    void end(bool to_sleep) {
        if (token_ == nullptr) return;
        fast_path_rx_spin_end(token_, to_sleep);
        token_ = nullptr;
        (void)pthread_setcancelstate(cancel_state_, nullptr);
    }

    void* token_ = nullptr;
    int cancel_state_ = PTHREAD_CANCEL_ENABLE;
};

// XLANE_SPIN_US as configured (0 when the fast path is not in use), the time
// a blocking call that involves an accelerated fd spins before it sleeps.
unsigned fast_path_spin_us();

// XLANE_POLL_OS_RATIO (0 when the fast path is not in use): of that many
// poll/select calls in a row that find an accelerated TCP socket ready, one
// asks the kernel about the other fds.
unsigned fast_path_poll_os_ratio();

// XLANE_SPIN_US when XLANE_SPIN_KERNEL=1, else 0: the spin of calls that
// only the kernel serves (kernel_spin.h). 0 until the settings are loaded
// (at the first socket decision): never loads them itself, so calls made
// before that, or from a signal handler, stay plain kernel calls.
unsigned kernel_spin_us();

// Poll hits and misses of an accelerated fd (`xlane stats` POLL hit/miss),
// counted by the multiplexers with one relaxed atomic add per accelerated fd:
// a hit is a poll/ppoll/select/pselect/epoll_wait call that reported `fd`
// ready without the thread sleeping in the kernel (at its first look or while
// spinning, XLANE_SPIN_US); a miss is a poll/select call that watched `fd`
// and slept before reporting it, or returned without it (timeout, EINTR, only
// other fds ready), and an epoll_wait that reported `fd` only after sleeping.
// An epoll_wait that returns without `fd` counts nothing for it: its set may
// hold thousands of sockets, and walking them would cost what epoll saves.
void fast_socket_polled(int fd, bool hit);

// Implemented by the epoll multiplexer, called by the fast path right after
// `fd` became accelerated (at its bind/connect/first send): epoll sets that
// already hold `fd` re-register it so that its EPOLLIN follows the eventfd.
void epoll_on_socket_accelerated(int fd);
// ... and right before an accelerated `fd` goes back to the kernel path
// (an unsupported option, close): epoll sets drop the eventfd half.
void epoll_on_socket_released(int fd);
// Both are called with no fast-path lock held: they call fast_socket_event_fd
// under the epoll registry's own locks.

// Implemented by the epoll multiplexer (readiness_epoll.cpp); to be called by
// close/close_range/closefrom and for the target of dup2/dup3, before the
// real call, for EVERY fd (two atomic loads when the fd is in no epoll
// registry): drops the registry's records of `fd` as an epoll set or as a
// registered UDP socket, so a number reused by a new socket or epoll set
// never inherits a stale registration. Without it the registry heals itself
// lazily (epoll_create and epoll_ctl drop what the kernel no longer knows).
void epoll_on_fd_closed(int fd);
// The same for close_range()/closefrom() (bounded by the highest fd the
// registry ever recorded).
void epoll_on_fd_range_closed(unsigned first, unsigned last);

// Implemented by the fast path (fast_socket.cpp): true while the calling
// thread runs the fast path's own code (progress thread, calls into the
// engine); the readiness multiplexers then hand every call to libc as is,
// so the engine's own epoll set and polls see plain kernel fds.
bool inside_engine();

}  // namespace xlane::preload
