#include "engine/tcp_handover.h"

#include <netinet/in.h>
#include <netinet/tcp.h>  // TCP_REPAIR_*, struct tcp_repair_opt/_window
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string>

namespace xlane::engine {
namespace {

// TCP option kinds for TCP_REPAIR_OPTIONS (RFC 9293, RFC 7323, RFC 2018).
constexpr uint32_t kOptionMss = 2;
constexpr uint32_t kOptionWindowScale = 3;
constexpr uint32_t kOptionSackPermitted = 4;
constexpr uint32_t kOptionTimestamps = 8;

Status set_int(int fd, int name, int value, const char* what) {
    if (::setsockopt(fd, IPPROTO_TCP, name, &value, sizeof(value)) != 0)
        return errno_error(std::string("TCP_REPAIR: ") + what);
    return {};
}

// In repair mode a send puts the bytes in the selected queue without a
// segment on the wire; the send queue's count as sent, not yet acknowledged.
Status fill_queue(int fd, int queue, std::span<const uint8_t> bytes, const char* what) {
    if (auto s = set_int(fd, TCP_REPAIR_QUEUE, queue, "select a queue"); !s) return s;
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_DONTWAIT);
        if (n < 0) return errno_error(std::string("TCP_REPAIR: fill the ") + what);
        if (n == 0) return make_error(ENOBUFS, std::string("TCP_REPAIR: the ") + what + " is full");
        done += static_cast<size_t>(n);
    }
    return {};
}

// A fresh socket's buffers hold about 130 KB of queued bytes (Linux counts
// each skb's whole size against them); a larger queue gets room first.
// SO_*BUFFORCE needs CAP_NET_ADMIN, as repair mode does. Linux doubles the
// value, so the queue's size asks for about twice what it needs.
Status make_room(int fd, int name, int force_name, size_t queued, const char* what) {
    if (queued == 0) return {};
    int have = 0;
    socklen_t len = sizeof(have);
    if (::getsockopt(fd, SOL_SOCKET, name, &have, &len) == 0 &&
        static_cast<size_t>(have) >= 2 * queued)
        return {};
    const int want = static_cast<int>(std::min<size_t>(2 * queued, INT32_MAX / 2));
    if (::setsockopt(fd, SOL_SOCKET, force_name, &want, sizeof(want)) != 0)
        return errno_error(std::string("TCP_REPAIR: room for the ") + what);
    return {};
}

}  // namespace

void copy_reuse_options(int from, int to) {
    for (const int name : {SO_REUSEADDR, SO_REUSEPORT}) {
        int value = 0;
        socklen_t length = sizeof(value);
        if (::getsockopt(from, SOL_SOCKET, name, &value, &length) == 0 && value != 0)
            (void)::setsockopt(to, SOL_SOCKET, name, &value, sizeof(value));
    }
}

Status repair_into_kernel(int fd, int family, const Endpoint& local, const Endpoint& remote,
                          const tcp::HandoverState& state) {
    auto local_address = to_socket_address(family, local);
    if (!local_address) return local_address.error();
    auto remote_address = to_socket_address(family, remote);
    if (!remote_address) return remote_address.error();
    // Repair mode also lets the socket bind the connection's port, which a
    // listener (or the connection's own shadow) holds already. Leaving it
    // clears SO_REUSEADDR, which is put back after: an accepted connection
    // has its listener's, and without it the connection, lingering in
    // FIN-WAIT after its process, would keep a restarted server from binding
    // its port (Linux refuses the bind unless both sockets have it).
    int reuse_address = 0;
    socklen_t reuse_length = sizeof(reuse_address);
    if (::getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse_address, &reuse_length) != 0)
        reuse_address = 0;
    if (auto s = set_int(fd, TCP_REPAIR, TCP_REPAIR_ON, "enter repair mode (CAP_NET_ADMIN)"); !s)
        return s;
    const auto bound = local_endpoint(fd);
    if (!bound || bound->port == 0) {
        if (::bind(fd, local_address->get(), local_address->length) != 0)
            return errno_error("TCP_REPAIR: bind the connection's local address");
    }
    // Sequence numbers first: connect() in repair mode keeps them.
    const uint32_t receive_start = state.rcv_nxt - static_cast<uint32_t>(state.receive_queue.size());
    if (auto s = set_int(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "select the send queue"); !s) return s;
    if (auto s = set_int(fd, TCP_QUEUE_SEQ, static_cast<int>(state.snd_una), "send sequence"); !s)
        return s;
    if (auto s = set_int(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "select the receive queue"); !s)
        return s;
    if (auto s = set_int(fd, TCP_QUEUE_SEQ, static_cast<int>(receive_start), "receive sequence"); !s)
        return s;
    if (state.timestamps) {
        // The low bit asks Linux (6.7+) for microsecond timestamps: ours count
        // milliseconds, and one tick less is nothing to the peer's PAWS.
        if (auto s = set_int(fd, TCP_TIMESTAMP, static_cast<int>(state.ts_now & ~1u),
                             "timestamp clock");
            !s)
            return s;
    }
    // ESTABLISHED at once: no SYN leaves in repair mode.
    if (::connect(fd, remote_address->get(), remote_address->length) != 0)
        return errno_error("TCP_REPAIR: connect to the peer");
    tcp_repair_opt options[4];
    uint32_t count = 0;
    options[count++] = {kOptionMss, state.peer_mss};
    if (state.window_scaling)
        options[count++] = {kOptionWindowScale,
                            uint32_t{state.snd_wscale} | uint32_t{state.rcv_wscale} << 16};
    if (state.sack) options[count++] = {kOptionSackPermitted, 0};
    if (state.timestamps) options[count++] = {kOptionTimestamps, 0};
    if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, options,
                     static_cast<socklen_t>(count * sizeof(tcp_repair_opt))) != 0)
        return errno_error("TCP_REPAIR: negotiated options");
    if (auto s = make_room(fd, SO_SNDBUF, SO_SNDBUFFORCE, state.send_queue.size(), "send queue");
        !s)
        return s;
    if (auto s = make_room(fd, SO_RCVBUF, SO_RCVBUFFORCE, state.receive_queue.size(),
                           "receive queue");
        !s)
        return s;
    if (auto s = fill_queue(fd, TCP_SEND_QUEUE, state.send_queue, "send queue"); !s) return s;
    if (auto s = fill_queue(fd, TCP_RECV_QUEUE, state.receive_queue, "receive queue"); !s) return s;
    tcp_repair_window window{};
    window.snd_wl1 = state.snd_wl1;
    window.snd_wnd = state.snd_wnd;
    window.max_window = state.max_window;
    window.rcv_wnd = state.rcv_wnd;
    window.rcv_wup = state.rcv_wup;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &window, sizeof(window)) != 0)
        return errno_error("TCP_REPAIR: windows");
    // Leaving repair mode sends a window probe: the peer's answering ACK
    // tells the kernel where the peer is, and what it lacks is retransmitted.
    if (auto s = set_int(fd, TCP_REPAIR, TCP_REPAIR_OFF, "leave repair mode"); !s) return s;
    // Best effort: the connection is live in the kernel now, and a caller
    // that saw a failure would close it as if it were still in repair (RST).
    if (reuse_address != 0)
        (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse_address, sizeof(reuse_address));
    return {};
}

}  // namespace xlane::engine
