// FastSocket: the preload library's record of one socket served by the UDP
// engine, shared by every fd that names it (dup), and FastSocketTable, which
// maps fd numbers to those records. Plus the per-thread mark that sends the
// engine's own socket calls straight to libc.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace xlane::preload {

// Control messages recvmsg() adds, as the socket options asked for them.
enum CmsgFlag : uint32_t {
    kCmsgPktinfo = 1u << 0,      // IP_PKTINFO
    kCmsgPktinfo6 = 1u << 1,     // IPV6_RECVPKTINFO
    kCmsgTimestamp = 1u << 2,    // SO_TIMESTAMP (or SO_TIMESTAMPNS, with kCmsgTimestampNs)
    kCmsgTimestampNs = 1u << 3,  // SO_TIMESTAMPNS: timespec instead of timeval
};

// A TCP listener's options that differ from a fresh socket's, as the
// setsockopt calls that give them to an accepted socket's shadow (fast_tcp.cpp).
struct InheritedOptions {
    struct Int {
        int level = 0;
        int name = 0;
        int value = 0;
    };
    static constexpr size_t kMaxInts = 12;
    Int ints[kMaxInts]{};
    size_t int_count = 0;
    char congestion[16] = {};  // TCP_CONGESTION; empty: the default
    linger lingering{};        // SO_LINGER; l_onoff 0: off, the default
};

struct FastSocket {
    uint32_t id = 0;  // engine::SocketId
    int family = 0;
    int event_fd = -1;  // engine-owned; readable while datagrams wait
    // fd names (dup) pointing here; the engine socket closes with the last.
    std::atomic<int> fd_refs{0};
    // fd names plus calls in progress; the record is freed at zero.
    std::atomic<int> refs{0};
    // Set once the engine socket is closed (last fd closed, back to kernel).
    std::atomic<bool> closed{false};
    // Handed back to the kernel (an unsupported option): the engine queue
    // is served until empty, everything else goes to the kernel socket.
    std::atomic<bool> releasing{false};
    // O_NONBLOCK of the open file description (shared by dup, like the flag).
    std::atomic<bool> nonblocking{false};
    std::atomic<int64_t> rcvtimeo_ns{0};  // SO_RCVTIMEO; 0 = none
    std::atomic<uint32_t> cmsg{0};        // CmsgFlag bits
    // A TCP socket (fast_tcp.cpp): `id` names a TcpEngine socket.
    std::atomic<bool> tcp{false};
    std::atomic<bool> listening{false};  // TCP: listen() made it a listener
    // TCP listener: fork() shared it, so new connections go to its kernel
    // shadow (hand_listeners_to_kernel_before_fork).
    std::atomic<bool> shared_by_fork{false};
    // TCP: SO_LINGER's timeout in seconds while it is on (0: close sends RST;
    // more: close waits for the FIN's ACK that long), -1 while off.
    std::atomic<int> linger_s{-1};
    // TCP: TCP_MAXSEG as the program set it (0: never), which the shadow
    // cannot tell apart from its default when it is 536.
    std::atomic<uint32_t> user_mss{0};
    // TCP listener: set at listen() and by setsockopt, read by accept().
    std::mutex inherited_lock;
    InheritedOptions inherited;
};

// One reference to a FastSocket for the length of a call.
class FastRef {
  public:
    FastRef() = default;
    explicit FastRef(FastSocket* socket) : socket_(socket) {}
    FastRef(FastRef&& other) noexcept : socket_(other.socket_) { other.socket_ = nullptr; }
    FastRef& operator=(FastRef&& other) noexcept {
        if (this != &other) {
            reset();
            socket_ = other.socket_;
            other.socket_ = nullptr;
        }
        return *this;
    }
    FastRef(const FastRef&) = delete;
    ~FastRef() { reset(); }
    void reset();

    explicit operator bool() const { return socket_ != nullptr; }
    FastSocket* operator->() const { return socket_; }
    FastSocket& operator*() const { return *socket_; }
    FastSocket* get() const { return socket_; }

  private:
    FastSocket* socket_ = nullptr;
};

// Drops one reference; frees the record at zero.
void unref(FastSocket* socket);

// fd -> FastSocket. Readers take a short striped lock to turn the pointer
// into a reference, so a record is never freed under a call that uses it,
// and never held locked while a call blocks.
class FastSocketTable {
  public:
    static constexpr int kCapacity = 1 << 20;  // as SocketTable
    constexpr FastSocketTable() = default;

    // A reference to what `fd` names, or empty.
    [[nodiscard]] FastRef find(int fd);
    // `fd` now names `socket` (takes an fd reference and a record reference).
    void attach(int fd, FastSocket* socket);
    // `fd` no longer names its socket; returns it with the fd reference
    // still counted, for the caller to finish (nullptr when none).
    [[nodiscard]] FastSocket* detach(int fd);
    // In a forked child: forgets every record without locking or freeing
    // (the parent's threads may have held a stripe at fork time), calling
    // `each` with each fd first.
    template <typename Fn>
    void abandon_all(Fn&& each) {
        for (auto& stripe : stripes_) stripe.owner.store(0, std::memory_order_relaxed);
        const int end = end_fd_.load(std::memory_order_relaxed);
        for (int fd = 0; fd < end; ++fd) {
            FastSocket* socket = slots_[fd].load(std::memory_order_relaxed);
            if (socket == nullptr) continue;
            each(fd, socket);
            slots_[fd].store(nullptr, std::memory_order_relaxed);
        }
    }
    [[nodiscard]] int end_fd() const { return end_fd_.load(std::memory_order_relaxed); }

  private:
    // A spin lock that knows its owner thread: held for a few instructions,
    // and a signal handler that interrupts its owner and makes a socket call
    // on an fd of the same stripe is told so (lock() fails) instead of
    // deadlocking; that call then takes the kernel path.
    struct Stripe {
        std::atomic<int> owner{0};  // kernel thread id, 0 = free
        [[nodiscard]] bool lock();
        void unlock() { owner.store(0, std::memory_order_release); }
    };
    class StripeGuard {
      public:
        explicit StripeGuard(Stripe& stripe) : stripe_(stripe), held_(stripe.lock()) {}
        ~StripeGuard() {
            if (held_) stripe_.unlock();
        }
        StripeGuard(const StripeGuard&) = delete;
        StripeGuard& operator=(const StripeGuard&) = delete;
        [[nodiscard]] bool held() const { return held_; }

      private:
        Stripe& stripe_;
        bool held_;
    };

    static constexpr int kStripes = 64;
    Stripe& stripe(int fd) { return stripes_[fd % kStripes]; }

    std::atomic<FastSocket*> slots_[kCapacity]{};
    Stripe stripes_[kStripes];
    std::atomic<int> end_fd_{0};
};

extern FastSocketTable g_fast_sockets;

// True on the engine's progress thread and inside every call into the
// engine: the engine's own socket calls (bind, recvmsg, setsockopt on the
// shadow socket) are then plain libc calls.
[[nodiscard]] bool inside_engine();

class InsideEngine {
  public:
    InsideEngine();
    ~InsideEngine();
    InsideEngine(const InsideEngine&) = delete;
    InsideEngine& operator=(const InsideEngine&) = delete;

  private:
    bool was_;
};

// Whether the calling thread polls `socket`: its last kPollingAgain
// (fast_path.h) non-blocking receives there came back empty, in a row.
// Counted per thread: several event-loop threads woken for one socket each
// get one EAGAIN and then wait, which is no poll. A receive that returns
// data ends the run.
[[nodiscard]] bool thread_polls(const FastSocket& socket);
void note_empty_receive(const FastSocket& socket);
void note_receive_with_data(const FastSocket& socket);

// Marks the calling thread as the engine's for good (the progress thread).
void mark_engine_thread();
// In a forked child: the calling thread's cached kernel thread id is stale.
void forget_thread_id_after_fork();

}  // namespace xlane::preload
