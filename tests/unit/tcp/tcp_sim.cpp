// SimNetwork: an ordered event queue of frames in flight plus the
// connections' own timers; time jumps straight to the next event.
#include "tcp_sim.h"

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace xlane::tcp::test {

TcpConfig SimNetwork::reproducible(TcpConfig config) const {
    // A fixed ISN key: the same seed gives the same sequence numbers.
    if (config.iss_secret == 0) config.iss_secret = seed_ * 0x9e3779b97f4a7c15ULL + 1;
    return config;
}

SimNetwork::SimNetwork(FaultRates a_to_b, FaultRates b_to_a, uint64_t seed, LinkParams link)
    : ab_(std::make_unique<FaultInjector>(a_to_b, seed * 2 + 1)),
      ba_(std::make_unique<FaultInjector>(b_to_a, seed * 2 + 2)),
      seed_(seed),
      link_(link) {
    hosts_[0].addr = packet::ipv4_mapped({198, 18, 0, 1});
    hosts_[1].addr = packet::ipv4_mapped({198, 18, 0, 2});
}

void SimNetwork::set_faults(bool a_to_b, FaultRates rates) {
    auto& slot = a_to_b ? ab_ : ba_;
    slot = std::make_unique<FaultInjector>(rates, seed_ * 7 + (a_to_b ? 3 : 4) + order_);
}

std::shared_ptr<TcpConnection> SimNetwork::connect(SimHost& from, uint16_t local_port, SimHost& to,
                                                   uint16_t remote_port, const TcpConfig& config) {
    const FourTuple tuple{{from.addr, local_port}, {to.addr, remote_port}};
    std::shared_ptr<TcpConnection> conn = TcpConnection::connect(reproducible(config), tuple, now_);
    from.connections.push_back(conn);
    return conn;
}

TcpListener& SimNetwork::listen(SimHost& host, uint16_t port, const TcpConfig& config,
                                uint32_t backlog) {
    auto listener =
        std::make_unique<TcpListener>(reproducible(config), TcpEndpoint{host.addr, port}, backlog);
    auto& ref = *listener;
    host.listeners[port] = std::move(listener);
    return ref;
}

void SimNetwork::adopt(SimHost& host, std::shared_ptr<TcpConnection> connection) {
    host.connections.push_back(std::move(connection));
}

SimHost* SimNetwork::host_for(const packet::Ipv6Addr& addr) {
    for (auto& host : hosts_)
        if (host.addr == addr) return &host;
    return nullptr;
}

void SimNetwork::transmit(const OutSegment& segment) {
    Frame frame{segment.src_addr, segment.dst_addr, {}};
    frame.bytes.resize(encoded_segment_size(segment.options, segment.payload.size()));
    const size_t n = encode_segment(segment.header, segment.options, segment.payload,
                                    segment.src_addr, segment.dst_addr, frame.bytes);
    if (n != frame.bytes.size()) throw std::logic_error("encode_segment size mismatch");
    const bool from_a = segment.src_addr == hosts_[0].addr;
    if (keep_trace) trace.push_back({from_a, segment.header, segment.payload.size()});
    ++frames_sent_;
    FaultInjector& faults = from_a ? *ab_ : *ba_;
    const FaultVerdict verdict = faults.next();
    // Serialisation at the link rate (IP + Ethernet overhead: 58 bytes).
    Instant& free_at = link_free_[from_a ? 0 : 1];
    const auto wire = Duration(
        static_cast<int64_t>((static_cast<double>(n) + 58) * 8 / link_.rate_bits_per_second * 1e9));
    free_at = std::max(free_at, now_) + wire;
    if (verdict.drop) return;
    for (uint32_t copy = 0; copy < verdict.copies; ++copy)
        in_flight_.emplace(std::make_pair(free_at + link_.one_way_delay + verdict.delay, order_++),
                           frame);
}

void SimNetwork::flush() {
    for (auto& host : hosts_) {
        for (auto& conn : host.connections)
            while (auto s = conn->pop_output()) transmit(*s);
        for (auto& [port, listener] : host.listeners)
            while (auto s = listener->pop_output()) transmit(*s);
        std::erase_if(host.connections, [](const auto& c) { return c->finished(); });
    }
}

void SimNetwork::deliver(const Frame& frame) {
    SimHost* host = host_for(frame.dst);
    if (host == nullptr) return;
    const DecodedSegment decoded = decode_segment(frame.bytes, frame.src, frame.dst, true);
    if (!decoded.ok()) throw std::logic_error("decode_segment refused our own encoding");
    ++frames_delivered_;
    const Segment& seg = decoded.segment;
    for (auto& conn : host->connections) {
        const auto& t = conn->tuple();
        if (t.local.port == seg.header.dst_port && t.remote.port == seg.header.src_port &&
            t.remote.addr == frame.src && t.local.addr == frame.dst) {
            conn->on_segment(seg, now_);
            return;
        }
    }
    auto it = host->listeners.find(seg.header.dst_port);
    if (it != host->listeners.end()) {
        if (auto conn = it->second->on_segment(seg, frame.src, frame.dst, now_))
            host->connections.push_back(conn);
        return;
    }
    if (auto rst = reset_for(seg, frame.src, frame.dst)) {
        ++host->resets_sent;
        transmit(*rst);
    }
}

bool SimNetwork::run_until(const std::function<bool()>& step, Duration limit) {
    const Instant end = now_ + limit;
    for (;;) {
        flush();
        if (step()) return true;
        flush();
        Instant next = kNever;
        if (!in_flight_.empty()) next = in_flight_.begin()->first.first;
        for (auto& host : hosts_)
            for (auto& conn : host.connections) next = std::min(next, conn->next_deadline());
        if (next == kNever || next > end) {
            now_ = std::min(end, next);
            return false;
        }
        now_ = std::max(now_, next);
        while (!in_flight_.empty() && in_flight_.begin()->first.first <= now_) {
            Frame frame = std::move(in_flight_.begin()->second);
            in_flight_.erase(in_flight_.begin());
            deliver(frame);
        }
        for (auto& host : hosts_) {
            // Copy: a timer may finish a connection that flush() then drops.
            auto conns = host.connections;
            for (auto& conn : conns)
                if (conn->next_deadline() <= now_) conn->on_timer(now_);
        }
    }
}

bool StreamPump::pump(Instant now) {
    // Sender: generate in 64 KiB chunks, hand over what send() accepts.
    while (sender && !shut) {
        if (pending_offset == pending.size()) {
            if (sent == total) {
                sender->shutdown(false, true, now);
                shut = true;
                break;
            }
            const size_t chunk = std::min<size_t>(65536, total - sent);
            pending.assign(chunk, 0);
            pattern.fill(pending);
            sent_hash.add(pending);
            sent += chunk;
            pending_offset = 0;
        }
        const IoResult r = sender->send(std::span(pending).subspan(pending_offset), now);
        if (r.error != 0) {
            if (r.error != EAGAIN) error = r.error;
            break;
        }
        pending_offset += r.bytes;
    }
    uint8_t buffer[16384];
    while (receiver && !eof) {
        const IoResult r = receiver->recv(buffer, now);
        if (r.error != 0) {
            if (r.error != EAGAIN) error = r.error;
            break;
        }
        if (r.bytes == 0) {
            eof = true;
            break;
        }
        received_hash.add(std::span(buffer, r.bytes));
        received += r.bytes;
    }
    return eof;
}

}  // namespace xlane::tcp::test
