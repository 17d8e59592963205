// TcpEngine's wire side: frames from the RX rings to connections and
// listeners, segments out onto the TX ring, timers from the progress
// thread, the test hook's faults, and the end of finished connections.
#include <poll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "engine/socket_address.h"
#include "engine/tcp_engine.h"
#include "engine/tcp_engine_socket.h"

namespace xlane::engine {
namespace {

// A full TX ring gets this many short waits for completions before a
// segment is dropped; TCP retransmits it, which beats holding the engine
// mutex while the kernel drains the ring.
constexpr int kTxRingRetries = 4;

packet::MacAddr source_mac(packet::Bytes frame) {
    packet::MacAddr mac{};
    if (frame.size() >= 12) std::memcpy(mac.data(), frame.data() + 6, mac.size());
    return mac;
}

}  // namespace

tcp::Instant TcpEngine::now() {
    return std::chrono::duration_cast<tcp::Instant>(
        std::chrono::steady_clock::now().time_since_epoch());
}

void TcpEngine::on_frame_locked(InterfacePort& port, packet::Bytes frame,
                                const packet::ParsedFrame& parsed) {
    const tcp::Instant t = now();
    if (rx_faults_) {
        const tcp::FaultVerdict verdict = rx_faults_->next();
        if (verdict.drop) return;
        for (uint32_t copy = 0; copy < verdict.copies; ++copy) {
            if (verdict.delay > tcp::Duration(0) || copy > 0) {
                held_.emplace(
                    t + verdict.delay,
                    HeldFrame{true, &port, std::vector<uint8_t>(frame.begin(), frame.end())});
                arm_timer_locked(t + verdict.delay);
            }
        }
        if (verdict.delay > tcp::Duration(0)) return;
    }
    const size_t l4_length = parsed.payload_offset + parsed.payload_length - parsed.l4_offset;
    // parse_frame verified the checksums already.
    const tcp::DecodedSegment decoded = tcp::decode_segment(
        frame.subspan(parsed.l4_offset, l4_length), parsed.src_addr, parsed.dst_addr, false);
    if (!decoded.ok()) {
        ++port.stats().rx_dropped_malformed;
        return;
    }
    ++port.stats().rx_delivered;
    receive_segment_locked(port, source_mac(frame), decoded.segment, parsed.src_addr,
                           parsed.dst_addr, t);
}

void TcpEngine::receive_segment_locked(InterfacePort& port, const packet::MacAddr& peer_mac,
                                       const tcp::Segment& segment, const packet::Ipv6Addr& src,
                                       const packet::Ipv6Addr& dst, tcp::Instant t) {
    const tcp::FourTuple tuple{{dst, segment.header.dst_port}, {src, segment.header.src_port}};
    if (auto it = flows_.find(tuple); it != flows_.end()) {
        Flow& flow = *it->second;
        const bool owed_before = flow.conn->batch_ack_pending();
        flow.conn->batch_acks(in_rx_batch_);
        flow.conn->on_segment(segment, t);
        flow.conn->batch_acks(false);
        if (!owed_before && flow.conn->batch_ack_pending()) batch_acks_owed_.push_back(tuple);
        service_locked(flow, t);
        if (flow.conn->finished() && flow.owner == 0) reap_locked();
        return;
    }
    // A connection handed to the kernel: the kernel has it now (this frame
    // came before its steering changed; the peer retransmits what it lacks).
    // A SYN starts a new connection of the same 4-tuple.
    if (!handed_over_.empty()) {
        if ((segment.header.flags & tcp::flags::kSyn) != 0)
            handed_over_.erase(tuple);
        else if (handed_over_.contains(tuple))
            return;
    }
    // Replies to segments that create no connection go back where they came from.
    tcp::FrameAddressing reply;
    reply.src_mac = port.mac();
    reply.dst_mac = peer_mac;
    const TcpSocketId listener_id = listener_for_locked(dst, segment.header.dst_port);
    if (auto listening = sockets_.find(listener_id); listening != sockets_.end()) {
        tcp::TcpListener& listener = *listening->second->listener;
        std::shared_ptr<tcp::TcpConnection> conn = listener.on_segment(segment, src, dst, t);
        while (auto out = listener.pop_output()) transmit_locked(port, reply, *out, t);
        if (!conn) return;
        auto flow = std::make_unique<Flow>();
        flow->conn = std::move(conn);
        flow->port = &port;
        flow->addressing = reply;
        flow->listener = listener_id;
        Flow& inserted = *flows_.emplace(tuple, std::move(flow)).first->second;
        service_locked(inserted, t);
        return;
    }
    if (auto rst = tcp::reset_for(segment, src, dst)) transmit_locked(port, reply, *rst, t);
}

void TcpEngine::end_rx_batch_locked() {
    in_rx_batch_ = false;
    if (batch_acks_owed_.empty()) return;
    const tcp::Instant t = now();
    for (const tcp::FourTuple& tuple : batch_acks_owed_) {
        auto it = flows_.find(tuple);
        if (it == flows_.end()) continue;  // reaped during the batch
        it->second->conn->flush_batch_ack(t);
        service_locked(*it->second, t);
    }
    batch_acks_owed_.clear();
}

void TcpEngine::service_locked(Flow& flow, tcp::Instant t) {
    tcp::PayloadParts payload;
    while (auto out = flow.conn->pop_output(payload))
        transmit_locked(*flow.port, flow.addressing, *out, payload, t);
    // Readiness comes from levels; the edge events only re-signal (EPOLLET).
    const bool edge = flow.conn->take_events() != 0;
    if (flow.owner != 0)
        if (auto it = sockets_.find(flow.owner); it != sockets_.end())
            update_readiness_locked(*it->second, edge);
    if (flow.listener != 0)
        if (auto it = sockets_.find(flow.listener); it != sockets_.end())
            update_readiness_locked(*it->second, edge);
    const tcp::Instant deadline = flow.conn->next_deadline();
    if (deadline != tcp::kNever) arm_timer_locked(std::max(deadline, t));
}

void TcpEngine::transmit_locked(InterfacePort& port, const tcp::FrameAddressing& addressing,
                                const tcp::OutSegment& segment, tcp::Instant t) {
    transmit_locked(port, addressing, segment, tcp::PayloadParts{segment.payload, {}}, t);
}

void TcpEngine::transmit_locked(InterfacePort& port, const tcp::FrameAddressing& addressing,
                                const tcp::OutSegment& segment, tcp::PayloadParts payload,
                                tcp::Instant t) {
    const size_t size = tcp::encoded_frame_size(segment);
    if (!tx_faults_) {
        // Encoded straight into its UMEM frame: no copy on the way out.
        afxdp::TxFrame frame;
        if (!take_tx_frame_locked(port, size, frame)) return;
        frame.length = static_cast<uint32_t>(
            tcp::encode_frame(segment, payload, addressing, ip_id_++, frame.buffer.first(size)));
        if (frame.length == 0) {
            port.queue(0).return_tx_frames(std::span(&frame, 1));
            ++tx_dropped_;
            return;
        }
        queue_tx_frame_locked(port, frame, t);
        return;
    }
    tx_scratch_.resize(size);
    const size_t length = tcp::encode_frame(segment, payload, addressing, ip_id_++, tx_scratch_);
    if (length == 0) {
        ++tx_dropped_;
        return;
    }
    const std::span<const uint8_t> frame(tx_scratch_.data(), length);
    const tcp::FaultVerdict verdict = tx_faults_->next();
    if (verdict.drop) return;
    for (uint32_t copy = 0; copy < verdict.copies; ++copy) {
        if (verdict.delay > tcp::Duration(0) || copy > 0) {
            held_.emplace(t + verdict.delay,
                          HeldFrame{false, &port, std::vector<uint8_t>(frame.begin(), frame.end())});
            arm_timer_locked(t + verdict.delay);
        }
    }
    if (verdict.delay > tcp::Duration(0)) return;
    put_on_wire_locked(port, frame, t);
}

void TcpEngine::put_on_wire_locked(InterfacePort& port, std::span<const uint8_t> bytes,
                                   tcp::Instant t) {
    afxdp::TxFrame frame;
    if (!take_tx_frame_locked(port, bytes.size(), frame)) return;
    std::memcpy(frame.buffer.data(), bytes.data(), bytes.size());
    frame.length = static_cast<uint32_t>(bytes.size());
    queue_tx_frame_locked(port, frame, t);
}

bool TcpEngine::take_tx_frame_locked(InterfacePort& port, size_t size, afxdp::TxFrame& frame) {
    afxdp::XskPort& xsk = port.queue(0);
    if (size > xsk.tx_frame_room()) {
        ++tx_dropped_;
        return false;
    }
    for (int attempt = 0; attempt <= kTxRingRetries; ++attempt) {
        if (xsk.take_tx_frames(std::span(&frame, 1))) return true;
        // Frames queued for a batched wake-up hold room: send them first.
        xsk.flush_tx();
        if (xsk.take_tx_frames(std::span(&frame, 1))) return true;
        ++port.stats().tx_ring_full_waits;
        pollfd pfd{xsk.fd(), POLLOUT, 0};
        (void)::poll(&pfd, 1, 1);
    }
    ++tx_dropped_;
    return false;
}

void TcpEngine::queue_tx_frame_locked(InterfacePort& port, const afxdp::TxFrame& frame,
                                      tcp::Instant t) {
    // kLater: a burst of segments (a window's worth after an ACK, a large
    // send) costs one wake-up per tx_kick_batch frames; whoever holds the
    // engine mutex flushes the rest before letting go of it (OperationLock,
    // UdpEngine's RX and progress rounds).
    const auto now_ns =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t).count());
    (void)port.queue(0).queue_tx(std::span(&frame, 1), now_ns, afxdp::TxWakeup::kLater);
    ++port.stats().tx_frames;
    port.stats().tx_bytes += frame.length;
}

void TcpEngine::flush_tx_locked() {
    for (const auto& port : host_.ports) {
        afxdp::XskPort& xsk = port->queue(0);
        if (xsk.tx_waiting() > 0) xsk.flush_tx();
    }
}

void TcpEngine::release_held_locked(tcp::Instant t) {
    while (!held_.empty() && held_.begin()->first <= t) {
        HeldFrame held = std::move(held_.begin()->second);
        held_.erase(held_.begin());
        if (!held.inbound) {
            put_on_wire_locked(*held.port, held.bytes, t);
            continue;
        }
        const packet::Bytes bytes(held.bytes.data(), held.bytes.size());
        const packet::ParsedFrame parsed = packet::parse_frame(bytes, kReceivedFrameParse);
        if (!parsed.ok()) continue;
        const size_t l4_length = parsed.payload_offset + parsed.payload_length - parsed.l4_offset;
        const tcp::DecodedSegment decoded = tcp::decode_segment(
            bytes.subspan(parsed.l4_offset, l4_length), parsed.src_addr, parsed.dst_addr, false);
        if (decoded.ok())
            receive_segment_locked(*held.port, source_mac(bytes), decoded.segment, parsed.src_addr,
                                   parsed.dst_addr, t);
    }
}

void TcpEngine::arm_timer_locked(tcp::Instant deadline) {
    if (deadline >= armed_) return;
    armed_ = deadline;
    itimerspec spec{};
    const auto ns = std::max<int64_t>(deadline.count(), 1);
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    (void)::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void TcpEngine::progress_locked() {
    uint64_t expirations = 0;
    (void)!::read(timer_.get(), &expirations, sizeof(expirations));
    const tcp::Instant t = now();
    if (armed_ > t && expirations == 0) return;  // nothing due yet
    // Everything is re-armed from scratch below.
    armed_ = tcp::kNever;
    itimerspec off{};
    (void)::timerfd_settime(timer_.get(), 0, &off, nullptr);
    release_held_locked(t);
    if (!held_.empty()) arm_timer_locked(held_.begin()->first);
    for (auto& [tuple, flow] : flows_) {
        const tcp::Instant deadline = flow->conn->next_deadline();
        if (deadline <= t) {
            flow->conn->on_timer(t);
            service_locked(*flow, t);
        } else if (deadline != tcp::kNever) {
            arm_timer_locked(deadline);
        }
    }
    reap_locked();
}

void TcpEngine::forget_flow_locked(Flow& flow) {
    if (!flow.steered) return;
    for (const auto& port : host_.ports) (void)port->steering().remove_flow(*flow.steered);
    flow.steered.reset();
}

void TcpEngine::reap_locked() {
    for (auto it = flows_.begin(); it != flows_.end();) {
        Flow& flow = *it->second;
        if (flow.owner == 0 && flow.conn->finished()) {
            forget_flow_locked(flow);
            it = flows_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace xlane::engine
