// The UDP fast path's data transfer: sends onto the engine, receives from
// its queue with MSG_PEEK/MSG_TRUNC/control messages, and the blocking
// wait (spin on the RX rings, then sleep on the socket's eventfd).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>

#include "engine/socket_address.h"
#include "fast_internal.h"
#include "fast_path.h"
#include "fast_tcp.h"
#include "fast_udp.h"
#include "libc_table.h"
#include "readiness_support.h"
#include "runtime.h"

namespace xlane::preload::fast {

FastRef decide_for_send(int fd, const SocketEntry& entry, const Endpoint& destination);

namespace {

namespace libc = xlane::preload::libc;

constexpr size_t kMaxIov = 1024;  // UIO_MAXIOV: the kernel's EMSGSIZE beyond
constexpr int kSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL | MSG_CONFIRM;
// MSG_NOSIGNAL: meaningless on a receive, and ignored by the kernel there
// (sockperf passes it); MSG_WAITALL: no effect on a datagram socket.
constexpr int kRecvFlags =
    MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_WAITALL | MSG_CMSG_CLOEXEC | MSG_NOSIGNAL;

// One round of a spin: the sibling hyperthread (and the engine lock's
// other users) get the core's attention for a moment.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

int fail(int err) {
    errno = err;
    return -1;
}

// A destination the kernel would take for this socket, or nullopt (the
// caller then lets the kernel socket send, and report its own error).
std::optional<Endpoint> destination_of(int family, const msghdr& msg) {
    if (msg.msg_name == nullptr || msg.msg_namelen == 0) return Endpoint{};  // none named
    const auto* addr = static_cast<const sockaddr*>(msg.msg_name);
    if (addr->sa_family != family) return std::nullopt;
    const socklen_t need = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (msg.msg_namelen < need) return std::nullopt;
    auto parsed = Endpoint::from_sockaddr(addr, msg.msg_namelen);
    if (!parsed) return std::nullopt;
    return parsed.value();
}

// One datagram out. false: the kernel socket sends this one (flags or
// ancillary data the engine does not carry, an address it would refuse).
// The first send of an undecided socket reads the application's memory
// before the kernel has looked at any of it: check it the kernel's way, so
// that a bad pointer gets the kernel's EFAULT (from libc), not a SIGSEGV.
bool message_readable(const msghdr& msg, sockaddr_storage& name_copy) {
    if (msg.msg_name != nullptr && msg.msg_namelen != 0) {
        if (msg.msg_namelen > sizeof(name_copy) ||
            !user_readable(msg.msg_name, msg.msg_namelen, &name_copy))
            return false;
    }
    if (msg.msg_iovlen == 0) return true;
    if (!user_readable(msg.msg_iov, msg.msg_iovlen * sizeof(iovec))) return false;
    for (size_t i = 0; i < msg.msg_iovlen; ++i)
        if (!user_readable(msg.msg_iov[i].iov_base, msg.msg_iov[i].iov_len)) return false;
    return true;
}

// `more`: further datagrams of the same sendmmsg follow this one.
bool send_one(int fd, const msghdr& msg_in, int flags, ssize_t* ret, bool more = false) {
    if ((flags & ~kSendFlags) != 0 || msg_in.msg_controllen != 0 || msg_in.msg_iovlen > kMaxIov)
        return false;
    const auto entry = g_sockets.find(fd);
    if (!entry) return false;
    msghdr msg = msg_in;
    sockaddr_storage name_copy{};
    if (entry->path != SocketPath::kFast) {
        if (!message_readable(msg, name_copy)) return false;
        if (msg.msg_name != nullptr && msg.msg_namelen != 0) msg.msg_name = &name_copy;
    }
    const bool named = msg.msg_name != nullptr && msg.msg_namelen != 0;
    const auto destination = destination_of(entry->family, msg);
    if (!destination) return false;
    FastRef socket;
    if (entry->path == SocketPath::kFast) {
        socket = g_fast_sockets.find(fd);
    } else if (entry->reason == PathReason::kUndecided && named) {
        socket = decide_for_send(fd, *entry, *destination);
    }
    if (!socket || socket->closed || socket->releasing) return false;
    const std::span<const iovec> payload(msg.msg_iov, msg.msg_iovlen);
    std::optional<Endpoint> to;
    if (named) to = *destination;
    engine::SendFlags send_flags;
    send_flags.nonblocking =
        (flags & MSG_DONTWAIT) != 0 || socket->nonblocking.load(std::memory_order_relaxed);
    send_flags.more = more;
    auto sent =
        guarded([&] { return engine_of(*socket)->send(socket->id, payload, to, send_flags); });
    if (!sent) {
        if (sent.error().errnum == EBADF && socket->closed) return false;  // closed meanwhile
        *ret = fail(sent.error().errnum != 0 ? sent.error().errnum : EIO);
        return true;
    }
    *ret = static_cast<ssize_t>(sent.value());
    return true;
}

// ---- receive ----

struct ControlWriter {
    msghdr& msg;
    size_t used = 0;
    bool truncated = false;

    void put(int level, int type, const void* data, size_t length) {
        // As put_cmsg(): what does not fit is left out and flagged MSG_CTRUNC.
        if (msg.msg_control == nullptr) {
            truncated = true;
            return;
        }
        const size_t room = msg.msg_controllen > used ? msg.msg_controllen - used : 0;
        if (room < CMSG_LEN(length)) {
            truncated = true;
            return;
        }
        auto* header = reinterpret_cast<cmsghdr*>(static_cast<char*>(msg.msg_control) + used);
        header->cmsg_len = CMSG_LEN(length);
        header->cmsg_level = level;
        header->cmsg_type = type;
        std::memcpy(CMSG_DATA(header), data, length);
        used += std::min(CMSG_SPACE(length), room);
    }
};

void write_control(msghdr& msg, const FastSocket& socket, const udp::DatagramMeta& meta,
                   int& flags_out) {
    const uint32_t wanted = socket.cmsg.load(std::memory_order_relaxed);
    ControlWriter writer{msg};
    if (wanted != 0) {
        // Order as udp_recvmsg(): timestamps (sock_recv_cmsgs), then IP info.
        if ((wanted & kCmsgTimestamp) != 0) {
            if ((wanted & kCmsgTimestampNs) != 0) {
                const timespec ts{static_cast<time_t>(meta.rx_timestamp_ns / 1'000'000'000),
                                  static_cast<long>(meta.rx_timestamp_ns % 1'000'000'000)};
                writer.put(SOL_SOCKET, SO_TIMESTAMPNS_OLD, &ts, sizeof(ts));
            } else {
                const timeval tv{
                    static_cast<time_t>(meta.rx_timestamp_ns / 1'000'000'000),
                    static_cast<suseconds_t>(meta.rx_timestamp_ns % 1'000'000'000 / 1000)};
                writer.put(SOL_SOCKET, SO_TIMESTAMP_OLD, &tv, sizeof(tv));
            }
        }
        const IpAddress destination = engine::from_packet_addr(meta.dst_addr);
        if (destination.is_v4()) {
            // An IPv4 datagram, also on a dual-stack socket: IP_PKTINFO.
            if ((wanted & kCmsgPktinfo) != 0) {
                in_pktinfo info{};
                info.ipi_ifindex = static_cast<int>(meta.ifindex);
                std::memcpy(&info.ipi_addr, meta.dst_addr.data() + 12, 4);
                info.ipi_spec_dst = info.ipi_addr;
                writer.put(IPPROTO_IP, IP_PKTINFO, &info, sizeof(info));
            }
        } else if ((wanted & kCmsgPktinfo6) != 0) {
            in6_pktinfo info{};
            info.ipi6_ifindex = meta.ifindex;
            std::memcpy(&info.ipi6_addr, meta.dst_addr.data(), 16);
            writer.put(IPPROTO_IPV6, IPV6_PKTINFO, &info, sizeof(info));
        }
    }
    msg.msg_controllen = writer.used;
    if (writer.truncated) flags_out |= MSG_CTRUNC;
}

void write_source(msghdr& msg, int family, const udp::DatagramMeta& meta) {
    if (msg.msg_name == nullptr) return;
    sockaddr_storage source{};
    socklen_t length = 0;
    const IpAddress address = engine::from_packet_addr(meta.src_addr);
    if (family == AF_INET) {
        auto& in = reinterpret_cast<sockaddr_in&>(source);
        in.sin_family = AF_INET;
        in.sin_port = htons(meta.src_port);
        std::memcpy(&in.sin_addr, meta.src_addr.data() + 12, 4);
        length = sizeof(in);
    } else {
        auto& in6 = reinterpret_cast<sockaddr_in6&>(source);
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(meta.src_port);
        std::memcpy(&in6.sin6_addr, meta.src_addr.data(), 16);
        if (!address.is_v4() && (meta.src_addr[0] == 0xfe && (meta.src_addr[1] & 0xc0) == 0x80))
            in6.sin6_scope_id = meta.ifindex;  // link-local: the arrival interface
        length = sizeof(in6);
    }
    std::memcpy(msg.msg_name, &source, std::min<socklen_t>(length, msg.msg_namelen));
    msg.msg_namelen = length;
}

enum class Wait { kAgain, kTimedOut, kInterrupted, kClosed };

// Waits until the socket's eventfd, or an AF_XDP socket of the engine, is
// readable or the deadline passes (the caller then receives, which drains
// the rings itself: one wake-up, not the progress thread's and then ours);
// the spin (if any) has happened before.
// `mask`: the signal mask to sleep under (nullptr: the thread's own).
Wait sleep_until_readable(FastSocket& socket, uint64_t deadline_ns, const sigset_t* mask) {
    constexpr size_t kMaxPoll = 17;
    pollfd pfds[kMaxPoll];
    fast_path_rx_polling_stopped();  // a sleeper polls nothing (spin or not)
    const RxFds rx = engine_rx_fds();
    nfds_t count = 0;
    pfds[count++] = pollfd{socket.event_fd, POLLIN, 0};
    for (size_t i = 0; i < rx.count && count < kMaxPoll; ++i)
        pfds[count++] = pollfd{rx.fds[i], POLLIN, 0};
    for (;;) {
        if (socket.closed) return Wait::kClosed;
        timespec timeout{};
        timespec* t = nullptr;
        if (deadline_ns != 0) {
            const uint64_t now = monotonic_ns();
            if (now >= deadline_ns) return Wait::kTimedOut;
            const uint64_t left = deadline_ns - now;
            timeout = {static_cast<time_t>(left / 1'000'000'000),
                       static_cast<long>(left % 1'000'000'000)};
            t = &timeout;
        }
        const int ready = libc::ppoll(pfds, count, t, mask);
        if (ready > 0) return Wait::kAgain;
        if (ready == 0) return Wait::kTimedOut;
        if (errno != EINTR) return Wait::kAgain;
        // A socket call with a receive timeout is never restarted after a
        // handler; without one it is when the handler has SA_RESTART
        // (signal(7)). Which signal interrupted is unknown here: restart
        // only when every installed handler asks for it.
        if (deadline_ns != 0 || !signal_handlers_restart()) return Wait::kInterrupted;
    }
}

// One datagram in, per the socket's blocking mode. Returns false when the
// kernel socket is to serve the call instead.
bool receive_one(FastSocket& socket, msghdr& msg, int flags, ssize_t* ret) {
    engine::UdpEngine* engine = engine_of(socket);
    if (engine == nullptr) return false;
    const std::span<const iovec> buffer(msg.msg_iov, msg.msg_iovlen);
    const bool nonblocking =
        (flags & MSG_DONTWAIT) != 0 || socket.nonblocking.load(std::memory_order_relaxed);
    const int64_t timeout_ns = socket.rcvtimeo_ns.load(std::memory_order_relaxed);
    const uint64_t deadline_ns =
        !nonblocking && timeout_ns > 0 ? monotonic_ns() + uint64_t(timeout_ns) : 0;
    // The first try of a call moves what the kernel socket holds (as a
    // kernel recv would see it); the spin's tries touch only the rings: no
    // system call per round. So do the calls of a thread that polls with
    // non-blocking receives (the progress thread moves the kernel socket's
    // datagrams meanwhile, and leaves the rings to the poller).
    const bool polling_again = nonblocking && thread_polls(socket);
    engine::ReceiveFlags receive_flags{(flags & MSG_PEEK) != 0, true, polling_again};
    uint64_t spin_end_ns = 0;  // 0: not spinning yet
    // Signals held from a little into the spin to the call's end: the
    // sleep's ppoll then reports them as the kernel's wait would.
    std::optional<DeferredSpinSignals> spin_signals;
    std::optional<SpinYield> yield;
    RxSpin rx_spin;  // the progress thread leaves the rings to us meanwhile
    for (;;) {
        if (socket.closed) return false;
        auto got = guarded([&] { return engine->receive(socket.id, buffer, receive_flags); });
        receive_flags.drain_kernel = false;
        if (got) {
            note_receive_with_data(socket);
            const udp::ReceivedDatagram& datagram = got.value();
            int flags_out = datagram.truncated() ? MSG_TRUNC : 0;
            write_source(msg, socket.family, datagram.meta);
            write_control(msg, socket, datagram.meta, flags_out);
            msg.msg_flags = flags_out;
            *ret = static_cast<ssize_t>(datagram.return_value((flags & MSG_TRUNC) != 0));
            return true;
        }
        const int err = got.error().errnum;
        if (err == EBADF && socket.closed) return false;
        if (err != EAGAIN) {
            *ret = fail(err != 0 ? err : EIO);
            return true;
        }
        if (socket.releasing) {
            // Queue served: the kernel socket takes over for good.
            hand_back(&socket, PathReason::kUnsupportedOption, "", false);
            return false;
        }
        if (nonblocking) {
            note_empty_receive(socket);
            *ret = fail(EAGAIN);
            return true;
        }
        // Spin on the RX rings for XLANE_SPIN_US (bounded by SO_RCVTIMEO),
        // then sleep.
        const uint64_t now = monotonic_ns();
        if (spin_end_ns == 0) {
            const uint32_t spin_us = settings().spin_us;
            spin_end_ns = now + uint64_t(spin_us) * 1000;
            if (deadline_ns != 0 && deadline_ns < spin_end_ns) spin_end_ns = deadline_ns;
            if (spin_us != 0) {
                spin_signals.emplace(nullptr);
                yield.emplace();
                rx_spin.begin();
            }
        }
        // A pending signal ends the spin (the sleep then delivers it), and
        // so does a thread that wants this CPU.
        if (now < spin_end_ns && !spin_signals->pending() && !yield->cpu_wanted()) {
            cpu_relax();
            continue;
        }
        spin_end_ns = std::min(spin_end_ns, now);
        rx_spin.sleeping();
        const sigset_t* sleep_mask = spin_signals ? spin_signals->sleep_mask() : nullptr;
        switch (sleep_until_readable(socket, deadline_ns, sleep_mask)) {
            case Wait::kAgain:
                break;
            case Wait::kTimedOut:
                *ret = fail(EAGAIN);
                return true;
            case Wait::kInterrupted:
                *ret = fail(EINTR);
                return true;
            case Wait::kClosed:
                return false;
        }
    }
}

bool receivable(int fd, int flags, size_t iovlen, FastRef& socket) {
    if (inside_engine() || (flags & ~kRecvFlags) != 0 || iovlen > kMaxIov) return false;
    if (!serves(fd)) return false;
    socket = g_fast_sockets.find(fd);
    return socket && !socket->closed;
}

}  // namespace

static bool sendmsg_unshielded(int fd, const msghdr* msg, int flags, ssize_t* ret) {
    if (inside_engine() || msg == nullptr) return false;
    if (!serves(fd)) {
        // Undecided: the msghdr itself is the application's, unchecked yet.
        msghdr copy{};
        if (!user_readable(msg, sizeof(copy), &copy)) return false;
        return send_one(fd, copy, flags, ret);
    }
    return send_one(fd, *msg, flags, ret);
}

static bool sendmmsg_unshielded(int fd, mmsghdr* msgs, unsigned count, int flags, int* ret) {
    if (inside_engine() || msgs == nullptr || count == 0) return false;
    // Undecided: the vector is the application's, unchecked yet.
    if (!serves(fd) && !user_readable(msgs, sizeof(mmsghdr))) return false;
    if (count > kMaxIov) count = kMaxIov;  // as the kernel: at most UIO_MAXIOV
    unsigned done = 0;
    for (; done < count; ++done) {
        ssize_t sent = 0;
        if (!send_one(fd, msgs[done].msg_hdr, flags, &sent, done + 1 < count)) {
            if (done == 0) return false;  // the kernel socket sends the lot
            // The rest through the kernel socket, in order.
            const int more = libc::sendmmsg(fd, msgs + done, count - done, flags);
            if (more > 0) done += static_cast<unsigned>(more);
            break;
        }
        if (sent < 0) {
            if (done == 0) {
                *ret = -1;
                return true;
            }
            break;  // as the kernel: the count so far; the error is lost
        }
        msgs[done].msg_len = static_cast<unsigned>(sent);
    }
    *ret = static_cast<int>(done);
    return true;
}

static bool recvmsg_unshielded(int fd, msghdr* msg, int flags, ssize_t* ret) {
    FastRef socket;
    if (msg == nullptr || !receivable(fd, flags, msg->msg_iovlen, socket)) return false;
    return receive_one(*socket, *msg, flags, ret);
}

static bool recvmmsg_unshielded(int fd, mmsghdr* msgs, unsigned count, int flags, timespec* timeout,
                                int* ret) {
    FastRef socket;
    if (msgs == nullptr || !receivable(fd, flags & ~MSG_WAITFORONE, 0, socket)) return false;
    if (timeout != nullptr &&
        (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1'000'000'000)) {
        *ret = fail(EINVAL);
        return true;
    }
    if (count > kMaxIov) count = kMaxIov;
    const uint64_t start = monotonic_ns();
    const uint64_t deadline =
        timeout != nullptr
            ? start + uint64_t(timeout->tv_sec) * 1'000'000'000 + uint64_t(timeout->tv_nsec)
            : 0;
    unsigned done = 0;
    for (; done < count; ++done) {
        if (msgs[done].msg_hdr.msg_iovlen > kMaxIov) {
            if (done == 0) return false;  // the kernel's EMSGSIZE
            break;
        }
        int one_flags = flags & ~MSG_WAITFORONE;
        if (done > 0 && (flags & MSG_WAITFORONE) != 0) one_flags |= MSG_DONTWAIT;
        ssize_t got = 0;
        if (!receive_one(*socket, msgs[done].msg_hdr, one_flags, &got)) {
            if (done == 0) return false;
            break;
        }
        if (got < 0) {
            if (done == 0) {
                *ret = -1;
                return true;
            }
            break;
        }
        msgs[done].msg_len = static_cast<unsigned>(got);
        // As the kernel: the timeout is looked at after each datagram.
        if (deadline != 0 && monotonic_ns() >= deadline) {
            ++done;
            break;
        }
    }
    if (timeout != nullptr) {
        const uint64_t now = monotonic_ns();
        const uint64_t left = now < deadline ? deadline - now : 0;
        timeout->tv_sec = static_cast<time_t>(left / 1'000'000'000);
        timeout->tv_nsec = static_cast<long>(left % 1'000'000'000);
    }
    *ret = static_cast<int>(done);
    return true;
}

// ---- entry points (exceptions stop here) ----

bool sendmsg(int fd, const msghdr* msg, int flags, ssize_t* ret) {
    if (tcp::serves(fd)) return tcp::sendmsg(fd, msg, flags, ret);
    return shielded([&] { return sendmsg_unshielded(fd, msg, flags, ret); }, false);
}

bool sendmmsg(int fd, mmsghdr* msgs, unsigned count, int flags, int* ret) {
    if (tcp::serves(fd)) return false;  // not served for TCP (the shadow answers)
    return shielded([&] { return sendmmsg_unshielded(fd, msgs, count, flags, ret); }, false);
}

bool recvmsg(int fd, msghdr* msg, int flags, ssize_t* ret) {
    if (tcp::serves(fd)) return tcp::recvmsg(fd, msg, flags, ret);
    return shielded([&] { return recvmsg_unshielded(fd, msg, flags, ret); }, false);
}

bool recvmmsg(int fd, mmsghdr* msgs, unsigned count, int flags, timespec* timeout, int* ret) {
    if (tcp::serves(fd)) return false;  // not served for TCP (the shadow answers)
    return shielded([&] { return recvmmsg_unshielded(fd, msgs, count, flags, timeout, ret); },
                    false);
}

}  // namespace xlane::preload::fast
