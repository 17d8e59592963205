#include "stats/fd_stats.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "stats/process_publisher.h"

namespace xlane::stats {

namespace {

// Raw syscalls: inside libxlane.so, getsockname/getpeername are wrappers.
StatsEndpoint local_endpoint(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::syscall(SYS_getsockname, fd, &address, &length) != 0) return {};
    StatsEndpoint endpoint = endpoint_from_sockaddr(&address, length);
    // Port 0: not bound yet (the wildcard address is then meaningless too).
    if (endpoint.port == 0) endpoint.set = 0;
    return endpoint;
}

StatsEndpoint remote_endpoint(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::syscall(SYS_getpeername, fd, &address, &length) != 0) return {};  // ENOTCONN
    return endpoint_from_sockaddr(&address, length);
}

// The wrappers call in after the real call: the application must see the
// errno that call left, whatever our syscalls here do to it.
class KeepErrno {
  public:
    KeepErrno() : saved_(errno) {}
    ~KeepErrno() { errno = saved_; }
    KeepErrno(const KeepErrno&) = delete;
    KeepErrno& operator=(const KeepErrno&) = delete;

  private:
    int saved_;
};

void raise_end(std::atomic<int>& end, int fd) {
    int current = end.load(std::memory_order_relaxed);
    while (current <= fd && !end.compare_exchange_weak(current, fd + 1, std::memory_order_relaxed)) {
    }
}

}  // namespace

void FdStatsTable::opened(int fd, int family, int protocol, Path path, Reason reason,
                          const char* reason_text, bool fresh) noexcept {
    KeepErrno keep;
    if (fd < 0 || fd >= kCapacity) return;
    SocketInfo info;
    info.fd = fd;
    info.family = family;
    info.protocol = protocol;
    info.path = path;
    info.reason = reason;
    info.reason_text = reason_text;
    if (!fresh) {
        info.local = local_endpoint(fd);
        info.remote = remote_endpoint(fd);
    }
    StatsPublisher& publisher = publisher_();
    SocketSlot* slot = publisher.publish(info);
    raise_end(end_fd_, fd);
    // A slot still here belongs to an fd closed behind our back (libc's own
    // close of a socket it made): that socket is gone.
    if (SocketSlot* old = slots_[fd].exchange(slot, std::memory_order_acq_rel)) publisher.retire(old);
}

void FdStatsTable::changed(int fd, Path path, Reason reason, const char* reason_text,
                           const char* new_reason_text) noexcept {
    KeepErrno keep;
    SocketSlot* current = slot(fd);
    if (current == nullptr) return;
    const StatsEndpoint local = local_endpoint(fd);
    const StatsEndpoint remote = remote_endpoint(fd);
    publisher_().update_path(current, path, reason, reason_text, &local, &remote, new_reason_text);
}

void FdStatsTable::duplicated(int from, int to) noexcept {
    KeepErrno keep;
    if (to < 0 || to >= kCapacity || from == to) return;
    StatsPublisher& publisher = publisher_();
    SocketSlot* shared = slot(from);
    publisher.add_reference(shared);
    if (shared != nullptr) raise_end(end_fd_, to);
    if (SocketSlot* old = slots_[to].exchange(shared, std::memory_order_acq_rel)) publisher.retire(old);
}

void FdStatsTable::closed(int fd) noexcept {
    KeepErrno keep;
    if (fd < 0 || fd >= kCapacity) return;
    SocketSlot* old = slots_[fd].exchange(nullptr, std::memory_order_acq_rel);
    if (old == nullptr) return;
    StatsPublisher& publisher = publisher_();
    // Whether a dup lives on, read under the publisher's lock: a thread
    // closing another fd of the socket changes the count meanwhile.
    const bool duplicated = publisher.retire_from(old, fd);
    // A dup of it lives on: show the socket under that fd. A scan, but only
    // when a duplicated socket loses the fd it was published with.
    if (!duplicated) return;
    const int end = end_fd_.load(std::memory_order_relaxed);
    for (int other = 0; other < end; ++other) {
        if (slots_[other].load(std::memory_order_relaxed) == old) {
            publisher.renumber(old, fd, other);
            break;
        }
    }
}

void FdStatsTable::closed_range(unsigned first, unsigned last) noexcept {
    const auto end = static_cast<unsigned>(end_fd_.load(std::memory_order_relaxed));
    for (unsigned fd = first; fd < end && fd <= last; ++fd) closed(static_cast<int>(fd));
}

FdStatsTable& process_fd_stats() noexcept {
    // Constant-initialised (no static constructor): safe before libc is ready.
    static constinit FdStatsTable table(process_publisher);
    return table;
}

}  // namespace xlane::stats
