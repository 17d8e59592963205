// UdpEngine's receive side: RX rings -> parse -> reassemble -> demux ->
// socket queue, the kernel sockets' datagrams into the same queues, the
// progress thread's round, and receive().
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <array>
#include <cstring>

#include "engine/engine_socket.h"
#include "engine/socket_address.h"
#include "engine/udp_engine.h"

namespace xlane::engine {
namespace {

constexpr size_t kRxBatch = 64;
// Datagrams taken off one kernel socket per round, so one busy socket
// cannot hold the engine mutex for long.
constexpr size_t kKernelBatch = 64;

uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

bool is_checksum_error(packet::ParseError error) {
    return error == packet::ParseError::kBadIpv4Checksum ||
           error == packet::ParseError::kBadL4Checksum;
}

}  // namespace

size_t UdpEngine::poll_rx() {
    std::lock_guard lock(mutex_);
    return poll_rx_locked();
}

size_t UdpEngine::poll_rx_locked() {
    // Whoever looks for datagrams may wait for answers to what it sent.
    flush_tx_locked();
    return receive_rx_locked();
}

void UdpEngine::take_rx_for_send_locked() {
    if (receive_rx_locked() > 0 && progress_) renew_poller_lease();
}

size_t UdpEngine::receive_rx_locked() {
    // Only mutex holders write it: a plain increment, no locked instruction.
    rx_takers_.polls.store(rx_takers_.polls.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    std::array<afxdp::RxFrame, kRxBatch> frames{};
    size_t total = 0;
    // Read once a frame is there: a spinning receiver calls this in a loop.
    uint64_t now_mono = 0;
    uint64_t now_real = 0;
    if (tcp_) tcp_->begin_rx_batch_locked();
    for (auto& port : ports_) {
        for (const auto& xsk : port->queues()) {
            while (total < config_.rx_budget) {
                const size_t want = std::min(frames.size(), config_.rx_budget - total);
                const size_t got = xsk->receive(std::span(frames.data(), want));
                if (got == 0) break;
                if (now_mono == 0) {
                    now_mono = clock_ns(CLOCK_MONOTONIC);
                    now_real = clock_ns(CLOCK_REALTIME);
                }
                ++port->stats().rx_batches;
                for (size_t i = 0; i < got; ++i) {
                    const packet::Bytes bytes(frames[i].data.data(), frames[i].data.size());
                    port->stats().rx_frames++;
                    port->stats().rx_bytes += bytes.size();
                    if (frames[i].addr == afxdp::kJoinedFrame) port->stats().rx_joined++;
                    handle_frame(*port, bytes, now_mono, now_real);
                    xsk->recycle(frames[i].addr);
                }
                total += got;
            }
            // receive() refilled before this batch's frames came back.
            xsk->refill();
        }
    }
    // What the batch made the TCP engine send (its ACKs, segments a window
    // update released) goes now, with one wake-up per burst.
    if (tcp_) tcp_->end_rx_batch_locked();
    if (total > 0) flush_tx_locked();
    return total;
}

void UdpEngine::handle_frame(InterfacePort& port, packet::Bytes frame, uint64_t now_mono_ns,
                             uint64_t now_real_ns) {
    const packet::ParsedFrame parsed = packet::parse_frame(frame, kReceivedFrameParse);
    if (parsed.error == packet::ParseError::kFragment) {
        ++port.stats().rx_fragments;
        udp::ReassemblyOutcome outcome = reassembler_.submit(frame, parsed, now_mono_ns);
        if (outcome.verdict != udp::FragmentVerdict::kReassembled) return;
        ++port.stats().rx_reassembled;
        const packet::Bytes whole(outcome.frame.data(), outcome.frame.size());
        const packet::ParsedFrame reparsed = packet::parse_frame(whole, kReceivedFrameParse);
        if (reparsed.ok())
            deliver(port, whole, reparsed, now_real_ns);
        else if (is_checksum_error(reparsed.error))
            ++port.stats().rx_dropped_bad_checksum;
        else
            ++port.stats().rx_dropped_malformed;
        return;
    }
    if (is_checksum_error(parsed.error)) {
        ++port.stats().rx_dropped_bad_checksum;
        return;
    }
    if (!parsed.ok()) {
        ++port.stats().rx_dropped_malformed;
        return;
    }
    if (parsed.partial_checksum) ++port.stats().rx_partial_checksum;
    deliver(port, frame, parsed, now_real_ns);
}

void UdpEngine::deliver(InterfacePort& port, packet::Bytes frame, const packet::ParsedFrame& parsed,
                        uint64_t now_real_ns) {
    if (parsed.protocol == IPPROTO_TCP) {
        tcp_->on_frame_locked(port, frame, parsed);
        return;
    }
    if (parsed.protocol != IPPROTO_UDP) {
        ++port.stats().rx_dropped_not_udp;
        return;
    }
    const auto hit = demux_.lookup(parsed);
    auto socket = hit ? sockets_.find(hit->socket) : sockets_.end();
    if (socket == sockets_.end()) {
        ++port.stats().rx_dropped_no_socket;
        return;
    }
    udp::DatagramMeta meta;
    meta.src_addr = parsed.src_addr;
    meta.dst_addr = parsed.dst_addr;
    meta.src_port = parsed.src_port;
    meta.dst_port = parsed.dst_port;
    meta.ifindex = port.ifindex();
    meta.rx_timestamp_ns = now_real_ns;
    Socket& s = *socket->second;
    const uint64_t dropped_before = s.stats.rx_dropped_queue_full;
    push(s, meta, frame.subspan(parsed.payload_offset, parsed.payload_length), false);
    if (s.stats.rx_dropped_queue_full != dropped_before)
        ++port.stats().rx_dropped_queue_full;
    else
        ++port.stats().rx_delivered;
}

void UdpEngine::push(Socket& socket, const udp::DatagramMeta& meta, packet::Bytes payload,
                     bool from_kernel) {
    const bool was_readable = socket.readable();
    if (!socket.queue.push(meta, payload)) {
        socket.count_rx_dropped();
        return;
    }
    ++(from_kernel ? socket.stats.rx_kernel_datagrams : socket.stats.rx_datagrams);
    socket.stats.rx_bytes += payload.size();
    if (was_readable) return;
    // The receive that polled the rings takes this socket's datagram itself
    // (receive()): nobody else could see it, so it signals only if more waits.
    if (&socket == receiving_socket_) return;
    socket.signal_readable();
}

void UdpEngine::sync_event_locked(Socket& socket) {
    if (socket.readable()) {
        socket.signal_readable();  // what push() left to this receive, if anything
    } else {
        socket.clear_readable();
    }
}

void UdpEngine::renew_poller_lease() {
    // Long enough to span a request/response turn of a polling loop; once it
    // stops polling, the progress thread watches the rings again within the
    // lease plus ProgressThread::kSpunRxRecheck.
    constexpr uint64_t kPollerLeaseNs = 200'000;
    const uint64_t until = RxTakers::now_ns() + kPollerLeaseNs;
    // Written once per half lease, not on every empty poll of the spinning thread.
    if (rx_takers_.poller_until_ns.load(std::memory_order_relaxed) + kPollerLeaseNs / 2 < until)
        rx_takers_.poller_until_ns.store(until, std::memory_order_relaxed);
}

size_t UdpEngine::drain_kernel_locked(Socket& socket) {
    size_t moved = 0;
    for (; moved < kKernelBatch; ++moved) {
        sockaddr_storage source{};
        alignas(cmsghdr) uint8_t control[128];
        iovec iov{kernel_rx_scratch_.data(), kernel_rx_scratch_.size()};
        msghdr msg{};
        msg.msg_name = &source;
        msg.msg_namelen = sizeof(source);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        const ssize_t got = ::recvmsg(socket.kernel_fd, &msg, MSG_DONTWAIT);
        if (got < 0) {
            // EAGAIN: empty. Anything else is the socket's pending error (an
            // ICMP error on a connected socket), which this read consumed:
            // keep it for the application's next receive.
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                const bool was_readable = socket.readable();
                socket.pending_error = errno;
                if (!was_readable) socket.signal_readable();
            }
            break;
        }
        udp::DatagramMeta meta;
        auto from =
            Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&source), msg.msg_namelen);
        if (from) {
            meta.src_addr = to_packet_addr(from->addr);
            meta.src_port = from->port;
        }
        if (socket.local) {
            meta.dst_addr = to_packet_addr(socket.local->addr);
            meta.dst_port = socket.local->port;
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo info{};
                std::memcpy(&info, CMSG_DATA(c), sizeof(info));
                meta.dst_addr = to_packet_addr(IpAddress::from_v4(info.ipi_addr));
                meta.ifindex = static_cast<uint32_t>(info.ipi_ifindex);
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo info{};
                std::memcpy(&info, CMSG_DATA(c), sizeof(info));
                meta.dst_addr = to_packet_addr(IpAddress::from_v6(info.ipi6_addr));
                meta.ifindex = info.ipi6_ifindex;
            }
        }
        meta.rx_timestamp_ns = clock_ns(CLOCK_REALTIME);
        push(socket, meta, packet::Bytes(kernel_rx_scratch_.data(), static_cast<size_t>(got)),
             true);
    }
    return moved;
}

void UdpEngine::progress_round() {
    // The netlink caches have their own locks; reading their change
    // notifications keeps route and neighbour answers current.
    (void)routes_->poll_changes();
    (void)neighbours_->poll_changes();

    std::lock_guard lock(mutex_);
    poll_rx_locked();
    tcp_->progress_locked();
    flush_tx_locked();  // retransmissions and probes the timers sent
    std::array<epoll_event, 64> ready{};
    const int count =
        ::epoll_wait(kernel_sockets_epoll_.get(), ready.data(), static_cast<int>(ready.size()), 0);
    for (int i = 0; i < count; ++i) {
        auto socket = sockets_.find(ready[i].data.u32);
        if (socket != sockets_.end()) drain_kernel_locked(*socket->second);
    }
    reassembler_.expire(clock_ns(CLOCK_MONOTONIC));
    for (auto& port : ports_)
        for (const auto& xsk : port->queues()) xsk->complete();
}

Result<udp::ReceivedDatagram> UdpEngine::receive(SocketId id, std::span<const iovec> buffer,
                                                 ReceiveFlags flags) {
    const bool polling = flags.polling_again && progress_ != nullptr;
    std::lock_guard lock(mutex_);
    // Only close() removes a socket, and it takes the mutex: one lookup holds.
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    {
        // Reset however this block ends (the RX path may throw bad_alloc):
        // a stale value would keep push() from ever signalling that socket.
        struct Receiving {
            const Socket*& slot;
            ~Receiving() { slot = nullptr; }
        } receiving{receiving_socket_};
        receiving_socket_ = &socket;
        poll_rx_locked();
        if (socket.queue.empty() && !socket.released && flags.drain_kernel && !polling)
            drain_kernel_locked(socket);
    }
    // As __skb_recv_udp(): a pending socket error comes before queued data.
    if (socket.pending_error != 0) {
        const int error = socket.pending_error;
        socket.pending_error = 0;
        sync_event_locked(socket);
        return make_error(error, "the kernel UDP socket reported an error");
    }
    auto datagram = socket.queue.receive(buffer, flags.peek);
    if (!datagram) {
        sync_event_locked(socket);
        if (polling) renew_poller_lease();
        return make_error(EAGAIN, "no datagram waiting");
    }
    if (!flags.peek) ++socket.stats.rx_read;
    sync_event_locked(socket);
    return std::move(datagram).value();
}

}  // namespace xlane::engine
