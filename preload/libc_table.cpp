// Definitions of the original-function table. Each entry names the libc symbol
// and a fallback that makes the system call directly, used only while this
// thread is inside dlsym (re-entry) or when libc lacks the symbol. Every entry
// is constant-initialised: no constructor runs, so a wrapper called before any
// initialisation (from another library's constructor, say) is already safe.
#include "libc_table.h"

#include <sys/syscall.h>

#include <cerrno>
#include <cstdarg>
#include <ctime>

extern "C" [[noreturn]] void __chk_fail();  // glibc's "buffer overflow detected" abort

namespace xlane::preload::libc {
namespace {

static_assert(sizeof(void*) == 8,
              "64-bit only: 32-bit glibc routes time64 calls through __recvmmsg64 & co, "
              "which this table does not interpose");

// fcntl and ioctl take one optional argument; like glibc we read it as a pointer
// (an int argument arrives in a full register, the kernel uses its low half).
int fcntl_syscall(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = va_arg(args, void*);
    va_end(args);
    return static_cast<int>(::syscall(SYS_fcntl, fd, cmd, arg));
}

int ioctl_syscall(int fd, unsigned long request, ...) noexcept {
    va_list args;
    va_start(args, request);
    void* arg = va_arg(args, void*);
    va_end(args);
    return static_cast<int>(::syscall(SYS_ioctl, fd, request, arg));
}

constexpr size_t kKernelSigsetSize = _NSIG / 8;

int ppoll_syscall(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* mask) {
    // The kernel writes the remaining time back; ppoll(2) promises not to.
    timespec copy{};
    timespec* t = nullptr;
    if (timeout != nullptr) {
        copy = *timeout;
        t = &copy;
    }
    return static_cast<int>(::syscall(SYS_ppoll, fds, nfds, t, mask, kKernelSigsetSize));
}

int poll_syscall(pollfd* fds, nfds_t nfds, int timeout_ms) {
    if (timeout_ms < 0) return ppoll_syscall(fds, nfds, nullptr, nullptr);
    const timespec t{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    return ppoll_syscall(fds, nfds, &t, nullptr);
}

int pselect_syscall(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
                    const sigset_t* mask) {
    timespec copy{};
    timespec* t = nullptr;
    if (timeout != nullptr) {
        copy = *timeout;
        t = &copy;
    }
    // pselect6's sixth argument is {sigset pointer, sigset size}.
    const struct {
        const sigset_t* set;
        size_t size;
    } sigdata{mask, kKernelSigsetSize};
    return static_cast<int>(::syscall(SYS_pselect6, nfds, r, w, e, t, &sigdata));
}

int select_syscall(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
    if (timeout == nullptr) return pselect_syscall(nfds, r, w, e, nullptr, nullptr);
    if (timeout->tv_sec < 0 || timeout->tv_usec < 0 || timeout->tv_usec >= 1000000) {
        errno = EINVAL;
        return -1;
    }
    timespec t{timeout->tv_sec, timeout->tv_usec * 1000L};
    const int ret = static_cast<int>(::syscall(SYS_pselect6, nfds, r, w, e, &t, nullptr));
    // Linux select() reports the time left, and programs rely on it.
    timeout->tv_sec = t.tv_sec;
    timeout->tv_usec = t.tv_nsec / 1000;
    return ret;
}

template <typename... Args>
long sys(long number, Args... args) {
    return ::syscall(number, args...);
}

}  // namespace

// clang-format off
constinit Original<decltype(::socket)> socket{"socket", [](int d, int t, int p) noexcept {
    return static_cast<int>(sys(SYS_socket, d, t, p)); }};
constinit Original<decltype(::socketpair)> socketpair{"socketpair",
    [](int d, int t, int p, int sv[2]) noexcept {
        return static_cast<int>(sys(SYS_socketpair, d, t, p, sv)); }};
constinit Original<decltype(::bind)> bind{"bind",
    [](int fd, const sockaddr* a, socklen_t n) noexcept {
        return static_cast<int>(sys(SYS_bind, fd, a, n)); }};
constinit Original<decltype(::listen)> listen{"listen", [](int fd, int backlog) noexcept {
    return static_cast<int>(sys(SYS_listen, fd, backlog)); }};
constinit Original<decltype(::accept)> accept{"accept", [](int fd, sockaddr* a, socklen_t* n) {
    return static_cast<int>(sys(SYS_accept4, fd, a, n, 0)); }};
constinit Original<decltype(::accept4)> accept4{"accept4",
    [](int fd, sockaddr* a, socklen_t* n, int flags) {
        return static_cast<int>(sys(SYS_accept4, fd, a, n, flags)); }};
constinit Original<decltype(::connect)> connect{"connect",
    [](int fd, const sockaddr* a, socklen_t n) {
        return static_cast<int>(sys(SYS_connect, fd, a, n)); }};
constinit Original<decltype(::shutdown)> shutdown{"shutdown", [](int fd, int how) noexcept {
    return static_cast<int>(sys(SYS_shutdown, fd, how)); }};
constinit Original<decltype(::getsockopt)> getsockopt{"getsockopt",
    [](int fd, int level, int name, void* v, socklen_t* n) noexcept {
        return static_cast<int>(sys(SYS_getsockopt, fd, level, name, v, n)); }};
constinit Original<decltype(::setsockopt)> setsockopt{"setsockopt",
    [](int fd, int level, int name, const void* v, socklen_t n) noexcept {
        return static_cast<int>(sys(SYS_setsockopt, fd, level, name, v, n)); }};
constinit Original<decltype(::getsockname)> getsockname{"getsockname",
    [](int fd, sockaddr* a, socklen_t* n) noexcept {
        return static_cast<int>(sys(SYS_getsockname, fd, a, n)); }};
constinit Original<decltype(::getpeername)> getpeername{"getpeername",
    [](int fd, sockaddr* a, socklen_t* n) noexcept {
        return static_cast<int>(sys(SYS_getpeername, fd, a, n)); }};

constinit Original<decltype(::close)> close{"close", [](int fd) {
    return static_cast<int>(sys(SYS_close, fd)); }};
constinit Original<decltype(::close_range)> close_range{"close_range",
    [](unsigned first, unsigned last, int flags) noexcept {
        return static_cast<int>(sys(SYS_close_range, first, last, flags)); }};
constinit Original<decltype(::closefrom)> closefrom{"closefrom", [](int lowfd) noexcept {
    sys(SYS_close_range, static_cast<unsigned>(lowfd), ~0U, 0); }};
constinit Original<decltype(::dup)> dup{"dup", [](int fd) noexcept {
    return static_cast<int>(sys(SYS_dup, fd)); }};
constinit Original<decltype(::dup2)> dup2{"dup2", [](int from, int to) noexcept {
    // dup3 refuses from == to; dup2 returns `to` when it is open.
    if (from == to) return sys(SYS_fcntl, from, F_GETFD) < 0 ? -1 : to;
    return static_cast<int>(sys(SYS_dup3, from, to, 0)); }};
constinit Original<decltype(::dup3)> dup3{"dup3", [](int from, int to, int flags) noexcept {
    return static_cast<int>(sys(SYS_dup3, from, to, flags)); }};
constinit Original<decltype(::fcntl)> fcntl{"fcntl", fcntl_syscall};
constinit Original<decltype(::fcntl)> fcntl64{"fcntl64", fcntl_syscall};
constinit Original<decltype(::ioctl)> ioctl{"ioctl", ioctl_syscall};

constinit Original<decltype(::read)> read{"read", [](int fd, void* b, size_t n) {
    return sys(SYS_read, fd, b, n); }};
constinit Original<decltype(::__read_chk)> read_chk{"__read_chk",
    [](int fd, void* b, size_t n, size_t buflen) {
        if (n > buflen) __chk_fail();
        return sys(SYS_read, fd, b, n); }};
constinit Original<decltype(::readv)> readv{"readv", [](int fd, const iovec* v, int n) {
    return sys(SYS_readv, fd, v, n); }};
constinit Original<decltype(::recv)> recv{"recv", [](int fd, void* b, size_t n, int flags) {
    return sys(SYS_recvfrom, fd, b, n, flags, nullptr, nullptr); }};
constinit Original<decltype(::__recv_chk)> recv_chk{"__recv_chk",
    [](int fd, void* b, size_t n, size_t buflen, int flags) {
        if (n > buflen) __chk_fail();
        return sys(SYS_recvfrom, fd, b, n, flags, nullptr, nullptr); }};
constinit Original<decltype(::recvfrom)> recvfrom{"recvfrom",
    [](int fd, void* b, size_t n, int flags, sockaddr* a, socklen_t* an) {
        return sys(SYS_recvfrom, fd, b, n, flags, a, an); }};
constinit Original<decltype(::__recvfrom_chk)> recvfrom_chk{"__recvfrom_chk",
    [](int fd, void* b, size_t n, size_t buflen, int flags, sockaddr* a, socklen_t* an) {
        if (n > buflen) __chk_fail();
        return sys(SYS_recvfrom, fd, b, n, flags, a, an); }};
constinit Original<decltype(::recvmsg)> recvmsg{"recvmsg", [](int fd, msghdr* m, int flags) {
    return sys(SYS_recvmsg, fd, m, flags); }};
constinit Original<decltype(::recvmmsg)> recvmmsg{"recvmmsg",
    [](int fd, mmsghdr* v, unsigned n, int flags, timespec* t) {
        return static_cast<int>(sys(SYS_recvmmsg, fd, v, n, flags, t)); }};
constinit Original<decltype(::write)> write{"write", [](int fd, const void* b, size_t n) {
    return sys(SYS_write, fd, b, n); }};
constinit Original<decltype(::writev)> writev{"writev", [](int fd, const iovec* v, int n) {
    return sys(SYS_writev, fd, v, n); }};
constinit Original<decltype(::send)> send{"send",
    [](int fd, const void* b, size_t n, int flags) {
        return sys(SYS_sendto, fd, b, n, flags, nullptr, 0); }};
constinit Original<decltype(::sendto)> sendto{"sendto",
    [](int fd, const void* b, size_t n, int flags, const sockaddr* a, socklen_t an) {
        return sys(SYS_sendto, fd, b, n, flags, a, an); }};
constinit Original<decltype(::sendmsg)> sendmsg{"sendmsg",
    [](int fd, const msghdr* m, int flags) { return sys(SYS_sendmsg, fd, m, flags); }};
constinit Original<decltype(::sendmmsg)> sendmmsg{"sendmmsg",
    [](int fd, mmsghdr* v, unsigned n, int flags) {
        return static_cast<int>(sys(SYS_sendmmsg, fd, v, n, flags)); }};
constinit Original<decltype(::sendfile)> sendfile{"sendfile",
    [](int out, int in, off_t* off, size_t n) noexcept {
        return sys(SYS_sendfile, out, in, off, n); }};
constinit Original<decltype(::sendfile)> sendfile64{"sendfile64",
    [](int out, int in, off_t* off, size_t n) noexcept {
        return sys(SYS_sendfile, out, in, off, n); }};
constinit Original<decltype(::splice)> splice{"splice",
    [](int in, loff_t* in_off, int out, loff_t* out_off, size_t n, unsigned flags) {
        return sys(SYS_splice, in, in_off, out, out_off, n, flags); }};

constinit Original<decltype(::sigaction)> sigaction{"sigaction", __sigaction};
// ssignal() is glibc's signal() under another name (one function, three
// aliases), and this library does not shadow it.
constinit Original<decltype(::signal)> signal{"signal", ssignal};

constinit Original<decltype(::poll)> poll{"poll", poll_syscall};
constinit Original<decltype(::__poll_chk)> poll_chk{"__poll_chk",
    [](pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
        if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
        return poll_syscall(fds, nfds, timeout); }};
constinit Original<decltype(::ppoll)> ppoll{"ppoll", ppoll_syscall};
constinit Original<decltype(::__ppoll_chk)> ppoll_chk{"__ppoll_chk",
    [](pollfd* fds, nfds_t nfds, const timespec* t, const sigset_t* mask, size_t fdslen) {
        if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
        return ppoll_syscall(fds, nfds, t, mask); }};
constinit Original<decltype(::select)> select{"select", select_syscall};
constinit Original<decltype(::pselect)> pselect{"pselect", pselect_syscall};
constinit Original<decltype(::epoll_create)> epoll_create{"epoll_create", [](int size) noexcept {
    if (size <= 0) {
        errno = EINVAL;
        return -1;
    }
    return static_cast<int>(sys(SYS_epoll_create1, 0)); }};
constinit Original<decltype(::epoll_create1)> epoll_create1{"epoll_create1",
    [](int flags) noexcept { return static_cast<int>(sys(SYS_epoll_create1, flags)); }};
constinit Original<decltype(::epoll_ctl)> epoll_ctl{"epoll_ctl",
    [](int ep, int op, int fd, epoll_event* ev) noexcept {
        return static_cast<int>(sys(SYS_epoll_ctl, ep, op, fd, ev)); }};
constinit Original<decltype(::epoll_wait)> epoll_wait{"epoll_wait",
    [](int ep, epoll_event* ev, int max, int timeout) {
        return static_cast<int>(
            sys(SYS_epoll_pwait, ep, ev, max, timeout, nullptr, kKernelSigsetSize)); }};
constinit Original<decltype(::epoll_pwait)> epoll_pwait{"epoll_pwait",
    [](int ep, epoll_event* ev, int max, int timeout, const sigset_t* mask) {
        return static_cast<int>(
            sys(SYS_epoll_pwait, ep, ev, max, timeout, mask, kKernelSigsetSize)); }};
constinit Original<decltype(::epoll_pwait2)> epoll_pwait2{"epoll_pwait2",
    [](int ep, epoll_event* ev, int max, const timespec* t, const sigset_t* mask) {
        return static_cast<int>(
            sys(SYS_epoll_pwait2, ep, ev, max, t, mask, kKernelSigsetSize)); }};
// clang-format on

}  // namespace xlane::preload::libc
