// UdpEngine's transmit side: one datagram encoded (fragmented when larger
// than the path MTU) onto an AF_XDP TX ring, or handed to the kernel socket.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>

#include "engine/engine_socket.h"
#include "engine/socket_address.h"
#include "engine/udp_engine.h"

namespace xlane::engine {

Result<size_t> UdpEngine::transmit_locked(InterfacePort& port, Socket& socket, const TxPlan& plan,
                                          std::span<const iovec> payload, size_t length,
                                          SendFlags flags) {
    afxdp::XskPort& xsk = port.queue(0);
    udp::UdpFrameTemplate frame;
    frame.src_mac = port.mac();
    frame.dst_mac = plan.dst_mac;
    frame.src_addr = to_packet_addr(plan.source.addr);
    frame.dst_addr = to_packet_addr(plan.destination.addr);
    frame.src_port = plan.source.port;
    frame.dst_port = plan.destination.port;
    // A frame must fit in one UMEM frame: on jumbo MTUs larger than that,
    // fragment at what fits (the receiver reassembles either way).
    frame.mtu = std::min<uint32_t>(plan.mtu, xsk.tx_frame_room() - packet::kEthHeaderLen);
    auto encoder = udp::UdpEncoder::create(frame);
    if (!encoder) return encoder.error();

    const size_t count = encoder->frames_needed(length);
    if (count == 0)
        return make_error(EMSGSIZE,
                          "the datagram does not fit the path MTU " + std::to_string(frame.mtu));
    // Half the UMEM may be in the fill ring (Umem::refill): the rest is all
    // a datagram can ever have.
    const afxdp::XskPortConfig& xsk_config = xsk.config();
    if (count > xsk_config.tx_size || count > xsk_config.umem.frame_count / 2)
        return make_error(ENOBUFS, "the datagram needs " + std::to_string(count) +
                                       " frames, more than the AF_XDP TX ring or UMEM of " +
                                       port.ifname() + " can ever hold");

    // Every fragment must go, or the datagram is not accepted: UMEM frames
    // and ring slots for all of them first, encoded in place (no copy).
    tx_frames_.resize(count);
    std::optional<std::chrono::steady_clock::time_point> deadline;
    while (!xsk.take_tx_frames(tx_frames_)) {
        // Frames left for a batched wake-up hold room: send them first.
        xsk.flush_tx();
        if (xsk.take_tx_frames(tx_frames_)) break;
        if (flags.nonblocking) {
            ++port.stats().tx_ring_full_eagain;
            return make_error(EAGAIN,
                              "the AF_XDP TX ring or UMEM of " + port.ifname() + " is full");
        }
        ++port.stats().tx_ring_full_waits;
        const auto now = std::chrono::steady_clock::now();
        if (!deadline) deadline = now + config_.tx_ring_wait;
        if (now >= *deadline) {
            ++port.stats().tx_ring_full_enobufs;
            socket.count_tx_dropped();
            return make_error(ENOBUFS, "the AF_XDP TX ring of " + port.ifname() +
                                           " stayed full; datagram not sent");
        }
        pollfd pfd{xsk.fd(), POLLOUT, 0};
        (void)::poll(&pfd, 1, 1);
    }
    tx_slots_.resize(count);
    for (size_t i = 0; i < count; ++i) tx_slots_[i] = udp::FrameSlot{tx_frames_[i].buffer, 0};
    auto written = encoder->encode(payload, ip_id_, tx_slots_);
    if (!written) {
        xsk.return_tx_frames(tx_frames_);
        return written.error();
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < count; ++i) {
        tx_frames_[i].length = static_cast<uint32_t>(tx_slots_[i].length);
        bytes += tx_slots_[i].length;
    }
    // Without a progress thread nothing would bound a deferred wake-up.
    afxdp::TxWakeup wakeup = afxdp::TxWakeup::kNow;
    if (progress_) wakeup = flags.more ? afxdp::TxWakeup::kLater : afxdp::TxWakeup::kWhenIdle;
    const auto now_ns =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count());
    // Frames still waiting (deferred, or refused: interface down) go at
    // the next flush: the progress thread's, soon, or any poll_rx().
    if (xsk.queue_tx(tx_frames_, now_ns, wakeup) && progress_) {
        ++port.stats().tx_deferred;
        progress_->request_round_soon();
    }
    port.stats().tx_datagrams++;
    port.stats().tx_frames += count;
    port.stats().tx_bytes += bytes;
    socket.stats.tx_datagrams++;
    socket.stats.tx_bytes += length;
    return length;
}

void UdpEngine::flush_tx_locked() {
    for (auto& port : ports_)
        for (const auto& xsk : port->queues())
            if (xsk->tx_waiting() > 0) xsk->flush_tx();
}

Result<size_t> UdpEngine::send_via_kernel(int kernel_fd, int family, std::span<const iovec> payload,
                                          const std::optional<Endpoint>& destination) {
    msghdr msg{};
    SocketAddress address;
    if (destination) {
        auto converted = to_socket_address(family, *destination);
        if (!converted) return converted.error();
        address = converted.value();
        msg.msg_name = &address.storage;
        msg.msg_namelen = address.length;
    }
    msg.msg_iov = const_cast<iovec*>(payload.data());
    msg.msg_iovlen = payload.size();
    const ssize_t sent = ::sendmsg(kernel_fd, &msg, MSG_NOSIGNAL);
    if (sent < 0) return errno_error("sendmsg on the kernel UDP socket failed");
    return static_cast<size_t>(sent);
}

}  // namespace xlane::engine
