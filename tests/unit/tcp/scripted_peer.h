// Test support: one TcpConnection driven segment by segment on a virtual
// clock, the test playing the peer (tcp_state_test, tcp_options_test).
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "tcp/tcp_connection.h"

namespace xlane::tcp::test {

inline const packet::Ipv6Addr kA = packet::ipv4_mapped({198, 18, 0, 1});
inline const packet::Ipv6Addr kB = packet::ipv4_mapped({198, 18, 0, 2});

// The connection under test is A:40000; the test is B:80.
struct ScriptedPeer {
    TcpConfig config;
    Instant now{std::chrono::seconds(10)};
    FourTuple tuple{{kA, 40000}, {kB, 80}};
    std::unique_ptr<TcpConnection> conn;
    uint32_t peer_iss = 5000;
    uint32_t peer_nxt = 5001;  // next sequence number the peer sends
    uint32_t iss = 0;          // the connection's
    std::vector<uint8_t> payload_store;

    ScriptedPeer() {
        config.timestamps = false;  // plain arithmetic unless a test wants them
        config.window_scaling = false;
        config.sack = false;
    }

    std::vector<OutSegment> out() {
        std::vector<OutSegment> segments;
        while (auto s = conn->pop_output()) segments.push_back(std::move(*s));
        return segments;
    }

    // Any segment, at any sequence number.
    void deliver(uint8_t f, uint32_t seq, uint32_t ack, std::vector<uint8_t> payload = {},
                 TcpOptions options = {}, uint16_t window = 65535) {
        payload_store = std::move(payload);
        Segment s;
        s.header = {80, 40000, seq, ack, f, window, 0};
        s.options = options;
        s.payload = payload_store;
        conn->on_segment(s, now);
    }

    // The peer's next segment in order (at peer_nxt, which moves past the payload).
    void deliver_next(uint8_t f, uint32_t ack, std::vector<uint8_t> payload = {}) {
        const auto n = static_cast<uint32_t>(payload.size());
        deliver(f, peer_nxt, ack, std::move(payload));
        peer_nxt += n;
    }

    // Peer data in order, acknowledging everything the connection sent.
    void peer_data(size_t n) {
        deliver_next(flags::kAck | flags::kPsh, conn_nxt(), std::vector<uint8_t>(n, 'x'));
    }

    uint32_t conn_nxt_value = 0;
    uint32_t conn_nxt() const { return conn_nxt_value; }
    // Remembers the highest sequence the connection used.
    void track(const std::vector<OutSegment>& segments) {
        for (const auto& s : segments) {
            const uint32_t end = s.header.seq + static_cast<uint32_t>(s.payload.size()) +
                                 ((s.header.flags & flags::kSyn) ? 1 : 0) +
                                 ((s.header.flags & flags::kFin) ? 1 : 0);
            if (!(s.header.flags & flags::kRst) && end - conn_nxt_value < 0x80000000u)
                conn_nxt_value = end;
        }
    }

    // Returns the SYN the connection sent.
    OutSegment establish_active(TcpOptions peer_options = {}, uint16_t window = 65535) {
        conn = TcpConnection::connect(config, tuple, now);
        auto syn = out();
        REQUIRE(syn.size() == 1);
        REQUIRE(syn[0].header.flags == flags::kSyn);
        iss = syn[0].header.seq;
        conn_nxt_value = iss + 1;
        if (!peer_options.mss) peer_options.mss = 1460;
        deliver(flags::kSyn | flags::kAck, peer_iss, iss + 1, {}, peer_options, window);
        auto ack = out();
        REQUIRE(ack.size() == 1);
        CHECK(ack[0].header.flags == flags::kAck);
        CHECK(ack[0].header.ack == peer_iss + 1);
        REQUIRE(conn->state() == TcpState::kEstablished);
        return syn[0];
    }

    void establish_passive() {
        Segment syn;
        syn.header = {80, 40000, peer_iss, 0, flags::kSyn, 65535, 0};
        syn.options.mss = 1460;
        conn = TcpConnection::from_syn(config, tuple, syn, now);
        auto synack = out();
        REQUIRE(synack.size() == 1);
        REQUIRE(synack[0].header.flags == (flags::kSyn | flags::kAck));
        CHECK(synack[0].header.ack == peer_iss + 1);
        iss = synack[0].header.seq;
        conn_nxt_value = iss + 1;
        REQUIRE(conn->state() == TcpState::kSynReceived);
    }

    // States reached from ESTABLISHED.
    void to_fin_wait1() {
        conn->shutdown(false, true, now);
        auto fin = out();
        REQUIRE(fin.size() == 1);
        REQUIRE((fin[0].header.flags & flags::kFin) != 0);
        track(fin);
        REQUIRE(conn->state() == TcpState::kFinWait1);
    }
    void to_fin_wait2() {
        to_fin_wait1();
        deliver(flags::kAck, peer_nxt, conn_nxt());
        REQUIRE(conn->state() == TcpState::kFinWait2);
    }
    void to_closing() {
        to_fin_wait1();
        deliver(flags::kFin | flags::kAck, peer_nxt, conn_nxt() - 1);  // FIN not yet acked
        ++peer_nxt;
        REQUIRE(conn->state() == TcpState::kClosing);
        out();
    }
    void to_time_wait() {
        to_fin_wait2();
        deliver(flags::kFin | flags::kAck, peer_nxt, conn_nxt());
        ++peer_nxt;
        REQUIRE(conn->state() == TcpState::kTimeWait);
        out();
    }
    void to_close_wait() {
        deliver(flags::kFin | flags::kAck, peer_nxt, conn_nxt());
        ++peer_nxt;
        REQUIRE(conn->state() == TcpState::kCloseWait);
        out();
    }
    void to_last_ack() {
        to_close_wait();
        conn->shutdown(false, true, now);
        track(out());
        REQUIRE(conn->state() == TcpState::kLastAck);
    }
};

}  // namespace xlane::tcp::test
