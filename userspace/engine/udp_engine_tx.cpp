// UdpEngine's transmit side: one datagram encoded (fragmented when larger
// than the path MTU) onto an AF_XDP TX ring, or handed to the kernel socket.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>

#include "engine/engine_socket.h"
#include "engine/socket_address.h"
#include "engine/udp_engine.h"

namespace xlane::engine {

Result<size_t> UdpEngine::transmit_locked(InterfacePort& port, Socket& socket, const TxPlan& plan,
                                          std::span<const iovec> payload, size_t length) {
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
    const uint32_t frame_room = xsk.umem().config().frame_size - XSK_UMEM__DEFAULT_FRAME_HEADROOM;
    frame.mtu = std::min<uint32_t>(plan.mtu, frame_room - packet::kEthHeaderLen);
    auto encoder = udp::UdpEncoder::create(frame);
    if (!encoder) return encoder.error();

    const size_t count = encoder->frames_needed(length);
    if (count == 0)
        return make_error(EMSGSIZE,
                          "the datagram does not fit the path MTU " + std::to_string(frame.mtu));
    const size_t slot_size = encoder->max_frame_length();
    tx_scratch_.resize(count * slot_size);
    tx_slots_.resize(count);
    for (size_t i = 0; i < count; ++i)
        tx_slots_[i] = udp::FrameSlot{std::span(tx_scratch_.data() + i * slot_size, slot_size), 0};
    auto written = encoder->encode(payload, ip_id_, tx_slots_);
    if (!written) return written.error();
    tx_frames_.clear();
    for (size_t i = 0; i < written.value(); ++i)
        tx_frames_.emplace_back(tx_slots_[i].buffer.data(), tx_slots_[i].length);

    // Every fragment must go, or the datagram is lost: wait (bounded) for
    // ring and UMEM room while the kernel completes earlier frames.
    const auto deadline = std::chrono::steady_clock::now() + config_.tx_ring_wait;
    size_t queued = 0;
    std::span<const std::span<const uint8_t>> frames(tx_frames_);
    while (queued < frames.size()) {
        queued += xsk.send(frames.subspan(queued));
        if (queued == frames.size()) break;
        ++port.stats().tx_ring_full_waits;
        if (std::chrono::steady_clock::now() >= deadline) {
            ++socket.stats.tx_dropped;
            return make_error(
                ENOBUFS, "the AF_XDP TX ring of " + port.ifname() + " stayed full; datagram lost");
        }
        pollfd pfd{xsk.fd(), POLLOUT, 0};
        (void)::poll(&pfd, 1, 1);
        xsk.complete();
    }
    port.stats().tx_datagrams++;
    port.stats().tx_frames += frames.size();
    for (const auto& f : frames) port.stats().tx_bytes += f.size();
    socket.stats.tx_datagrams++;
    socket.stats.tx_bytes += length;
    return length;
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
