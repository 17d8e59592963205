// The fake fast path behind the readiness tests (see fake_fast_path.h).
#include "fake_fast_path.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

#include "fast_path.h"
#include "readiness_support.h"
#include "socket_table.h"

namespace xlane::test {
namespace {

constexpr int kMaxFd = 1 << 16;

struct FakeSocket {
    std::atomic<int> event_fd{-1};  // -1: not accelerated
    std::atomic<size_t> queued{0};
    std::atomic<bool> alias{false};  // names another fd's eventfd, owns nothing
    std::atomic<unsigned> poll_hits{0};
    std::atomic<unsigned> poll_misses{0};
    std::atomic<bool> stream{false};  // a fake TCP socket: readiness is `mask`
    std::atomic<short> mask{0};
};

FakeSocket g_fake[kMaxFd];
std::mutex g_mutex;  // every change of a queue and its eventfd together
std::atomic<unsigned> g_spin_us{0};
std::atomic<unsigned> g_kernel_spin_us{0};
std::atomic<unsigned> g_poll_os_ratio{0};
std::atomic<int> g_rx_spinners{0};
std::atomic<unsigned> g_poll_once_calls{0};
std::atomic<int> g_scheduled_fd{-1};
std::atomic<unsigned> g_scheduled_at{0};

FakeSocket& fake(int fd) {
    if (fd < 0 || fd >= kMaxFd) throw std::out_of_range("fd " + std::to_string(fd));
    return g_fake[fd];
}

void deliver_locked(FakeSocket& s, size_t count) {
    const size_t before = s.queued.fetch_add(count);
    if (before == 0 && count > 0) {
        const uint64_t one = 1;
        if (::write(s.event_fd.load(), &one, sizeof one) != sizeof one)
            throw std::runtime_error("eventfd write failed");
    }
}

// The engine's eventfd of a TCP socket is readable while its mask holds
// anything (the fake has one waiter's interest: all of it).
void set_stream_mask_locked(FakeSocket& s, short mask) {
    const short before = s.mask.exchange(mask);
    uint64_t value = 1;
    if (before == 0 && mask != 0) {
        if (::write(s.event_fd.load(), &value, sizeof value) != sizeof value)
            throw std::runtime_error("eventfd write failed");
    } else if (before != 0 && mask == 0) {
        if (::read(s.event_fd.load(), &value, sizeof value) != sizeof value)
            throw std::runtime_error("eventfd read failed");
    }
}

}  // namespace

int udp_socket(int family) {
    const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket: " + std::to_string(errno));
    preload::g_sockets.record(fd, preload::classify_socket(family, SOCK_DGRAM, 0));
    return fd;
}

void accelerate(int fd) {
    {
        std::lock_guard lock(g_mutex);
        FakeSocket& s = fake(fd);
        const int event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (event_fd < 0) throw std::runtime_error("eventfd: " + std::to_string(errno));
        s.queued.store(0);
        s.event_fd.store(event_fd);
    }
    preload::epoll_on_socket_accelerated(fd);
}

void alias(int copy, int original) {
    {
        std::lock_guard lock(g_mutex);
        preload::g_sockets.copy(original, copy);
        fake(copy).alias.store(true);
        fake(copy).event_fd.store(fake(original).event_fd.load());
    }
    preload::epoll_on_socket_accelerated(copy);
}

void release(int fd) {
    preload::epoll_on_socket_released(fd);
    std::lock_guard lock(g_mutex);
    FakeSocket& s = fake(fd);
    const int event_fd = s.event_fd.exchange(-1);
    if (event_fd >= 0 && !s.alias.exchange(false)) ::close(event_fd);
    s.queued.store(0);
}

void close_socket(int fd) {
    if (fake(fd).event_fd.load() >= 0) release(fd);
    preload::epoll_on_fd_closed(fd);
    preload::g_sockets.forget(fd);
    ::close(fd);
}

void close_fd(int fd) {
    preload::epoll_on_fd_closed(fd);
    ::close(fd);
}

void deliver(int fd, size_t count) {
    std::lock_guard lock(g_mutex);
    FakeSocket& s = fake(fd);
    if (s.event_fd.load() < 0) throw std::logic_error("deliver to a kernel-path fd");
    deliver_locked(s, count);
}

bool consume(int fd) {
    std::lock_guard lock(g_mutex);
    FakeSocket& s = fake(fd);
    if (s.queued.load() == 0) return false;
    if (s.queued.fetch_sub(1) == 1) {
        uint64_t value = 0;
        if (::read(s.event_fd.load(), &value, sizeof value) != sizeof value)
            throw std::runtime_error("eventfd read failed");
    }
    return true;
}

size_t queued(int fd) {
    return fake(fd).queued.load();
}

int stream_socket(short mask) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket: " + std::to_string(errno));
    preload::g_sockets.record(fd, preload::classify_socket(AF_INET, SOCK_STREAM, 0));
    std::lock_guard lock(g_mutex);
    FakeSocket& s = fake(fd);
    const int event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd < 0) throw std::runtime_error("eventfd: " + std::to_string(errno));
    s.stream.store(true);
    s.event_fd.store(event_fd);
    s.mask.store(0);
    set_stream_mask_locked(s, mask);
    preload::note_accelerated_socket();  // as fast_tcp.cpp does at adoption
    return fd;
}

void set_stream_mask(int fd, short mask) {
    std::lock_guard lock(g_mutex);
    set_stream_mask_locked(fake(fd), mask);
}

void close_stream(int fd) {
    {
        std::lock_guard lock(g_mutex);
        FakeSocket& s = fake(fd);
        ::close(s.event_fd.exchange(-1));
        s.stream.store(false);
        s.mask.store(0);
    }
    preload::g_sockets.forget(fd);
    ::close(fd);
}

void set_poll_os_ratio(unsigned ratio) {
    g_poll_os_ratio.store(ratio);
}

void set_spin_us(unsigned us) {
    g_spin_us.store(us);
}

int rx_spinners() {
    return g_rx_spinners.load();
}

void set_kernel_spin_us(unsigned us) {
    g_kernel_spin_us.store(us);
}

void deliver_on_poll_once(int fd, unsigned calls) {
    g_scheduled_at.store(g_poll_once_calls.load() + calls);
    g_scheduled_fd.store(fd);
}

unsigned poll_once_calls() {
    return g_poll_once_calls.load();
}

unsigned poll_hits(int fd) {
    return fake(fd).poll_hits.load();
}

unsigned poll_misses(int fd) {
    return fake(fd).poll_misses.load();
}

void reset_poll_counts() {
    for (FakeSocket& s : g_fake) {
        s.poll_hits.store(0);
        s.poll_misses.store(0);
    }
}

}  // namespace xlane::test

// ---- the fast_path.h contract ----
namespace xlane::preload {

bool fast_socket_event_fd(int fd, int* event_fd) {
    if (fd < 0 || fd >= test::kMaxFd) return false;
    const int e = test::g_fake[fd].event_fd.load(std::memory_order_acquire);
    if (e < 0) return false;
    *event_fd = e;
    return true;
}

size_t fast_socket_queued(int fd) {
    if (fd < 0 || fd >= test::kMaxFd) return 0;
    return test::g_fake[fd].queued.load();
}

void fast_path_poll_once() {
    // The real one can reach a cancellation point: the engine's recvfrom
    // and sendto wake-ups of the rings.
    ::pthread_testcancel();
    const unsigned call = test::g_poll_once_calls.fetch_add(1) + 1;
    int fd = test::g_scheduled_fd.load();
    const int scheduled = fd;
    if (fd >= 0 && call >= test::g_scheduled_at.load() &&
        test::g_scheduled_fd.compare_exchange_strong(fd, -1)) {
        test::deliver(scheduled);
    }
}

unsigned fast_path_spin_us() {
    return test::g_spin_us.load();
}

// The fake has no progress thread: a spin's scope only has to balance.
void* fast_path_rx_spin_begin() {
    test::g_rx_spinners.fetch_add(1);
    return &test::g_rx_spinners;
}

void fast_path_rx_spin_end(void* token, bool) {
    static_cast<std::atomic<int>*>(token)->fetch_sub(1);
}

// No progress thread here either: nothing leaves the rings to a poller.
void fast_path_rx_polling_stopped() {}
void fast_path_rx_polled_empty() {}

unsigned kernel_spin_us() {
    return test::g_kernel_spin_us.load();
}

void fast_socket_polled(int fd, bool hit) {
    if (fd < 0 || fd >= test::kMaxFd) return;
    ++(hit ? test::g_fake[fd].poll_hits : test::g_fake[fd].poll_misses);
}

bool inside_engine() {
    return false;
}

// Fake TCP sockets (stream_socket()): connected, one eventfd, no interest
// bookkeeping (hold 0). The rest of the multiplexers' TCP branch is tested
// end to end (integration_preload_apps_tcp).
bool fast_stream_event_fd(int fd, short, bool, int* event_fd, bool* listening, uint32_t* hold) {
    if (!fast_stream_socket(fd)) return false;
    *event_fd = test::g_fake[fd].event_fd.load();
    *listening = false;
    *hold = 0;
    return true;
}

void fast_stream_release(uint32_t, short) {}

short fast_stream_mask(int fd) {
    return fast_stream_socket(fd) ? test::g_fake[fd].mask.load() : short{0};
}

bool fast_stream_socket(int fd) {
    return fd >= 0 && fd < test::kMaxFd && test::g_fake[fd].stream.load();
}

unsigned fast_path_poll_os_ratio() {
    return test::g_poll_os_ratio.load();
}

}  // namespace xlane::preload
