// The state machine segment by segment, the test playing the peer: every
// RFC 9293 state, RST acceptance and generation with RFC 5961 challenge ACKs,
// PAWS, window trimming, delayed ACK, Nagle/CORK/NODELAY, zero-window probes.
#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

#include "scripted_peer.h"
#include "packet/frame_parser.h"
#include "tcp/tcp_connection.h"
#include "tcp/tcp_frame.h"

namespace xlane::tcp {
namespace {

using namespace std::chrono_literals;
using test::kA;
using test::kB;
using test::ScriptedPeer;

bool only_ack(const std::vector<OutSegment>& segments, uint32_t ack) {
    return segments.size() == 1 && segments[0].header.flags == flags::kAck &&
           segments[0].header.ack == ack && segments[0].payload.empty();
}

}  // namespace

TEST_CASE("active open negotiates options and reports establishment", "[tcp][state]") {
    ScriptedPeer t;
    t.config.timestamps = true;
    t.config.window_scaling = true;
    t.config.sack = true;
    t.conn = TcpConnection::connect(t.config, t.tuple, t.now);
    auto syn = t.out();
    REQUIRE(syn.size() == 1);
    CHECK(syn[0].options.mss == 1460);        // MTU 1500 - 20 - 20
    CHECK(syn[0].options.window_scale == 3);  // 256 KiB needs a shift of 3
    CHECK(syn[0].options.sack_permitted);
    REQUIRE(syn[0].options.timestamps);
    CHECK(t.conn->state() == TcpState::kSynSent);
    TcpOptions peer;
    peer.mss = 1400;
    peer.window_scale = 7;
    peer.sack_permitted = true;
    peer.timestamps = Timestamps{777, syn[0].options.timestamps->value};
    t.deliver(flags::kSyn | flags::kAck, t.peer_iss, syn[0].header.seq + 1, {}, peer, 100);
    CHECK(t.conn->state() == TcpState::kEstablished);
    CHECK((t.conn->take_events() & event::kEstablished) != 0);
    CHECK(t.conn->effective_mss() == 1400 - 12);
    const TcpInfo info = t.conn->info(t.now);
    CHECK(info.opt_sack);
    CHECK(info.opt_timestamps);
    CHECK(info.snd_wscale == 7);
    CHECK(info.snd_wnd == 100);  // the SYN-ACK window is not scaled
    auto ack = t.out();
    REQUIRE(ack.size() == 1);
    REQUIRE(ack[0].options.timestamps);
    CHECK(ack[0].options.timestamps->echo == 777);
}

TEST_CASE("MSS comes from the route MTU, IPv6 included", "[tcp][state]") {
    TcpConfig config;
    config.mtu = 9000;
    auto v4 = TcpConnection::connect(config, {{kA, 1}, {kB, 2}}, 1s);
    CHECK(v4->pop_output()->options.mss == 8960);
    const auto a6 = *packet::parse_ipv6("fd00:198:18::1");
    const auto b6 = *packet::parse_ipv6("fd00:198:18::2");
    config.mtu = 1500;
    auto v6 = TcpConnection::connect(config, {{a6, 1}, {b6, 2}}, 1s);
    CHECK(v6->pop_output()->options.mss == 1440);
}

TEST_CASE("SYN-SENT: RST rules and refused connections", "[tcp][state][rst]") {
    ScriptedPeer t;
    t.conn = TcpConnection::connect(t.config, t.tuple, t.now);
    const uint32_t iss = t.out()[0].header.seq;
    SECTION("RST without ACK is ignored") {
        t.deliver(flags::kRst, 0, 0);
        CHECK(t.conn->state() == TcpState::kSynSent);
    }
    SECTION("RST with an unacceptable ACK is ignored") {
        t.deliver(flags::kRst | flags::kAck, 0, iss + 5);
        CHECK(t.conn->state() == TcpState::kSynSent);
        CHECK(t.out().empty());
    }
    SECTION("RST acknowledging the SYN refuses the connection") {
        t.deliver(flags::kRst | flags::kAck, 0, iss + 1);
        CHECK(t.conn->state() == TcpState::kClosed);
        CHECK(t.conn->error() == ECONNREFUSED);
        CHECK((t.conn->take_events() & event::kClosed) != 0);
        CHECK(t.conn->send(std::vector<uint8_t>{1}, t.now).error == ECONNREFUSED);
    }
    SECTION("an ACK of something never sent is answered by RST") {
        t.deliver(flags::kAck, 900, iss + 77);
        auto rst = t.out();
        REQUIRE(rst.size() == 1);
        CHECK(rst[0].header.flags == flags::kRst);
        CHECK(rst[0].header.seq == iss + 77);
        CHECK(t.conn->state() == TcpState::kSynSent);
    }
}

TEST_CASE("simultaneous open, segment by segment", "[tcp][state]") {
    ScriptedPeer t;
    t.conn = TcpConnection::connect(t.config, t.tuple, t.now);
    const uint32_t iss = t.out()[0].header.seq;
    TcpOptions mss;
    mss.mss = 1460;
    t.deliver(flags::kSyn, t.peer_iss, 0, {}, mss);
    CHECK(t.conn->state() == TcpState::kSynReceived);
    auto synack = t.out();
    REQUIRE(synack.size() == 1);
    CHECK(synack[0].header.flags == (flags::kSyn | flags::kAck));
    CHECK(synack[0].header.seq == iss);
    CHECK(synack[0].header.ack == t.peer_iss + 1);
    SECTION("the peer's SYN-ACK completes it") {
        t.deliver(flags::kSyn | flags::kAck, t.peer_iss, iss + 1, {}, mss);
        CHECK(t.conn->state() == TcpState::kEstablished);
        CHECK(only_ack(t.out(), t.peer_iss + 1));
    }
    SECTION("so does a plain ACK") {
        t.deliver(flags::kAck, t.peer_iss + 1, iss + 1);
        CHECK(t.conn->state() == TcpState::kEstablished);
    }
}

TEST_CASE("SYN-RECEIVED: bad ACK gets RST, exact RST closes, lost SYN-ACK retransmitted",
          "[tcp][state][rst]") {
    ScriptedPeer t;
    t.establish_passive();
    SECTION("unacceptable ACK") {
        t.deliver(flags::kAck, t.peer_nxt, t.iss + 9);
        auto rst = t.out();
        REQUIRE(rst.size() == 1);
        CHECK((rst[0].header.flags & flags::kRst) != 0);
        CHECK(rst[0].header.seq == t.iss + 9);
        CHECK(t.conn->state() == TcpState::kSynReceived);
    }
    SECTION("RST in window, not exact: challenge ACK") {
        t.deliver(flags::kRst, t.peer_nxt + 10, 0);
        CHECK(only_ack(t.out(), t.peer_nxt));
        CHECK(t.conn->state() == TcpState::kSynReceived);
    }
    SECTION("exact RST") {
        t.deliver(flags::kRst, t.peer_nxt, 0);
        CHECK(t.conn->state() == TcpState::kClosed);
    }
    SECTION("retransmitted SYN") {
        TcpOptions mss;
        mss.mss = 1460;
        t.deliver(flags::kSyn, t.peer_iss, 0, {}, mss);
        auto again = t.out();
        REQUIRE(again.size() == 1);
        CHECK(again[0].header.flags == (flags::kSyn | flags::kAck));
    }
    SECTION("SYN-ACK retransmission timeout, then ETIMEDOUT") {
        int synacks = 0;
        while (t.conn->state() != TcpState::kClosed && synacks < 20) {
            t.now = t.conn->next_deadline();
            t.conn->on_timer(t.now);
            synacks += static_cast<int>(t.out().size());
        }
        CHECK(synacks == 5);  // synack_retries
        CHECK(t.conn->error() == ETIMEDOUT);
    }
    SECTION("ACK completes it") {
        t.deliver(flags::kAck, t.peer_nxt, t.iss + 1);
        CHECK(t.conn->state() == TcpState::kEstablished);
    }
    SECTION("the final ACK was lost: the first data segment completes it") {
        t.deliver(flags::kAck | flags::kPsh, t.peer_nxt, t.iss + 1, std::vector<uint8_t>(100, 9));
        CHECK(t.conn->state() == TcpState::kEstablished);
        CHECK(t.conn->readable_bytes() == 100);
    }
}

TEST_CASE("RST acceptance in every synchronized state (RFC 9293 + RFC 5961)", "[tcp][state][rst]") {
    ScriptedPeer t;
    t.establish_active();
    int expected_error = ECONNRESET;
    SECTION("ESTABLISHED") {}
    SECTION("FIN-WAIT-1") {
        t.to_fin_wait1();
    }
    SECTION("FIN-WAIT-2") {
        t.to_fin_wait2();
    }
    SECTION("CLOSE-WAIT") {
        t.to_close_wait();
        expected_error = EPIPE;
    }
    SECTION("CLOSING") {
        t.to_closing();
        expected_error = 0;
    }
    SECTION("LAST-ACK") {
        t.to_last_ack();
        expected_error = 0;
    }
    SECTION("TIME-WAIT") {
        t.to_time_wait();
        // TIME-WAIT has a zero-width window past the FIN: an exact RST ends it.
        expected_error = 0;
    }
    const TcpState before = t.conn->state();
    INFO(to_string(before));
    // Outside the window: silently dropped.
    t.deliver(flags::kRst, t.peer_nxt + 1000000, 0);
    CHECK(t.out().empty());
    CHECK(t.conn->state() == before);
    if (before != TcpState::kTimeWait) {
        // In the window but not exact: a challenge ACK, nothing else.
        t.deliver(flags::kRst, t.peer_nxt + 100, 0);
        CHECK(only_ack(t.out(), t.peer_nxt));
        CHECK(t.conn->state() == before);
    }
    // Exact: the connection is reset.
    t.deliver(flags::kRst, t.peer_nxt, 0);
    CHECK(t.conn->state() == TcpState::kClosed);
    CHECK(t.conn->error() == expected_error);
    CHECK(t.out().empty());
}

TEST_CASE("SYN on an established connection gets a challenge ACK", "[tcp][state][rst]") {
    ScriptedPeer t;
    t.establish_active();
    t.deliver(flags::kSyn, t.peer_nxt + 5, 0);
    CHECK(only_ack(t.out(), t.peer_nxt));
    CHECK(t.conn->state() == TcpState::kEstablished);
    t.deliver(flags::kSyn, t.peer_iss - 100000, 0);  // even out of window
    CHECK(only_ack(t.out(), t.peer_nxt));
}

TEST_CASE("challenge ACKs are rate limited", "[tcp][state][rst]") {
    ScriptedPeer t;
    t.config.challenge_acks_per_second = 2;
    t.establish_active();
    int acks = 0;
    for (int i = 0; i < 5; ++i) {
        t.deliver(flags::kRst, t.peer_nxt + 10 + i, 0);
        acks += static_cast<int>(t.out().size());
    }
    CHECK(acks == 2);
    t.now += 1s;
    t.deliver(flags::kRst, t.peer_nxt + 10, 0);
    CHECK(t.out().size() == 1);
    CHECK(t.conn->state() == TcpState::kEstablished);
}

TEST_CASE("ACK of unsent data and too-old ACKs are answered, not processed", "[tcp][state]") {
    ScriptedPeer t;
    t.establish_active();
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1 + 5000, std::vector<uint8_t>(10, 'z'));
    CHECK(only_ack(t.out(), t.peer_nxt));  // data not taken
    CHECK(t.conn->readable_bytes() == 0);
}

TEST_CASE("segments outside the receive window are trimmed and answered", "[tcp][state]") {
    ScriptedPeer t;
    t.config.receive_buffer = 4096;
    t.config.quickack_segments = 0;
    t.establish_active();
    // Entirely beyond the window.
    t.deliver(flags::kAck, t.peer_nxt + 8192, t.iss + 1, std::vector<uint8_t>(100, 'a'));
    CHECK(only_ack(t.out(), t.peer_nxt));
    CHECK(t.conn->out_of_order_bytes() == 0);
    // Straddling the right edge: only the part inside is kept.
    t.deliver(flags::kAck, t.peer_nxt + 4000, t.iss + 1, std::vector<uint8_t>(500, 'b'));
    CHECK(t.conn->out_of_order_bytes() == 96);
    t.out();
    // Old data (already received) only causes an ACK.
    t.peer_data(10);
    t.out();
    t.deliver(flags::kAck, t.peer_nxt - 10, t.iss + 1, std::vector<uint8_t>(10, 'x'));
    CHECK(only_ack(t.out(), t.peer_nxt));
    CHECK(t.conn->readable_bytes() == 10);
    CHECK(t.conn->readable_bytes() + t.conn->out_of_order_bytes() <= 4096);
}

TEST_CASE("the out-of-order queue has its own configurable bound", "[tcp][state]") {
    ScriptedPeer t;
    t.config.out_of_order_limit = 1000;
    t.establish_active();
    for (uint32_t i = 1; i <= 3; ++i) {
        t.deliver(flags::kAck, t.peer_nxt + 1000 * i, t.iss + 1, std::vector<uint8_t>(500, 1));
        CHECK(only_ack(t.out(), t.peer_nxt));  // a duplicate ACK each time
    }
    CHECK(t.conn->out_of_order_bytes() == 1000);  // the third segment was dropped
}

TEST_CASE("out-of-order data is SACKed and delivered once the hole fills", "[tcp][state]") {
    ScriptedPeer t;
    t.config.sack = true;
    TcpOptions peer;
    peer.sack_permitted = true;
    t.establish_active(peer);
    t.deliver(flags::kAck, t.peer_nxt + 1000, t.iss + 1, std::vector<uint8_t>(500, 2));
    auto dup = t.out();
    REQUIRE(dup.size() == 1);
    CHECK(dup[0].header.ack == t.peer_nxt);
    REQUIRE(dup[0].options.sack_count == 1);
    CHECK(dup[0].options.sack[0] == SackBlock{t.peer_nxt + 1000, t.peer_nxt + 1500});
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, std::vector<uint8_t>(1000, 1));
    auto ack = t.out();
    REQUIRE(ack.size() == 1);
    CHECK(ack[0].header.ack == t.peer_nxt + 1500);
    CHECK(ack[0].options.sack_count == 0);
    std::vector<uint8_t> buffer(2000);
    const IoResult r = t.conn->recv(buffer, t.now);
    REQUIRE(r.bytes == 1500);
    CHECK(buffer[999] == 1);
    CHECK(buffer[1000] == 2);
}

TEST_CASE("data received twice is reported in a D-SACK block, once (RFC 2883)", "[tcp][state]") {
    ScriptedPeer t;
    t.config.sack = true;
    t.config.quickack_segments = 0;
    TcpOptions peer;
    peer.sack_permitted = true;
    t.establish_active(peer);
    t.peer_data(100);
    t.out();
    const uint32_t n = t.peer_nxt;
    SECTION("a retransmission of what arrived: an ACK at once, its range first") {
        t.deliver(flags::kAck, n - 100, t.iss + 1, std::vector<uint8_t>(100, 'x'));
        auto ack = t.out();
        REQUIRE(ack.size() == 1);
        CHECK(ack[0].header.ack == n);
        REQUIRE(ack[0].options.sack_count == 1);
        CHECK(ack[0].options.sack[0] == SackBlock{n - 100, n});
        // Reported once: the next ACK carries no block.
        t.peer_data(10);
        t.conn->on_timer(t.now + std::chrono::seconds(1));
        for (const auto& s : t.out()) CHECK(s.options.sack_count == 0);
    }
    SECTION("a segment that straddles RCV.NXT: only the old part, the new part kept") {
        t.deliver(flags::kAck, n - 40, t.iss + 1, std::vector<uint8_t>(100, 'y'));
        auto ack = t.out();
        REQUIRE(!ack.empty());
        CHECK(ack.back().header.ack == n + 60);
        REQUIRE(ack.front().options.sack_count == 1);
        CHECK(ack.front().options.sack[0] == SackBlock{n - 40, n});
        CHECK(t.conn->readable_bytes() == 160);
    }
    SECTION("out-of-order data held already: the D-SACK block, then its SACK block") {
        t.deliver(flags::kAck, n + 1000, t.iss + 1, std::vector<uint8_t>(500, 'z'));
        auto first = t.out();
        REQUIRE(first.size() == 1);
        REQUIRE(first[0].options.sack_count == 1);
        t.deliver(flags::kAck, n + 1000, t.iss + 1, std::vector<uint8_t>(500, 'z'));
        auto again = t.out();
        REQUIRE(again.size() == 1);
        REQUIRE(again[0].options.sack_count == 2);
        CHECK(again[0].options.sack[0] == SackBlock{n + 1000, n + 1500});
        CHECK(again[0].options.sack[1] == SackBlock{n + 1000, n + 1500});
    }
}

TEST_CASE("no D-SACK block without SACK permitted", "[tcp][state]") {
    ScriptedPeer t;
    t.config.sack = true;
    t.establish_active();  // the peer offers no SACK
    t.peer_data(100);
    t.out();
    t.deliver(flags::kAck, t.peer_nxt - 100, t.iss + 1, std::vector<uint8_t>(100, 'x'));
    auto ack = t.out();
    REQUIRE(ack.size() == 1);
    CHECK(ack[0].options.sack_count == 0);
}

TEST_CASE("PAWS drops segments with old timestamps", "[tcp][state]") {
    ScriptedPeer t;
    t.config.timestamps = true;
    TcpOptions peer;
    peer.timestamps = Timestamps{1000, 0};
    t.establish_active(peer);
    TcpOptions ts;
    ts.timestamps = Timestamps{1010, 0};
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, std::vector<uint8_t>(10, 1), ts);
    t.peer_nxt += 10;
    t.out();
    ts.timestamps = Timestamps{900, 0};  // older than TS.Recent
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, std::vector<uint8_t>(10, 2), ts);
    auto ack = t.out();
    REQUIRE(ack.size() == 1);
    CHECK(ack[0].header.ack == t.peer_nxt);  // not taken
    CHECK(t.conn->readable_bytes() == 10);
    REQUIRE(ack[0].options.timestamps);
    CHECK(ack[0].options.timestamps->echo == 1010);
}

TEST_CASE("TIME-WAIT re-acknowledges a retransmitted FIN and ends after 2 MSL", "[tcp][state]") {
    ScriptedPeer t;
    t.config.time_wait = 30s;
    t.establish_active();
    t.to_time_wait();
    t.now += 10s;
    t.deliver(flags::kFin | flags::kAck, t.peer_nxt - 1, t.conn_nxt());
    CHECK(only_ack(t.out(), t.peer_nxt));
    CHECK(t.conn->next_deadline() == t.now + 30s);  // restarted
    t.now = t.conn->next_deadline();
    t.conn->on_timer(t.now);
    CHECK(t.conn->state() == TcpState::kClosed);
    CHECK(t.conn->error() == 0);
}

TEST_CASE("FIN handling: half-close, out-of-order FIN, EOF", "[tcp][state]") {
    ScriptedPeer t;
    t.establish_active();
    // FIN arrives before the data in front of it.
    t.deliver(flags::kFin | flags::kAck, t.peer_nxt + 5, t.iss + 1);
    CHECK(t.conn->state() == TcpState::kEstablished);
    t.out();
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, std::vector<uint8_t>(5, 'q'));
    CHECK(t.conn->state() == TcpState::kCloseWait);
    auto ack = t.out();
    REQUIRE_FALSE(ack.empty());
    CHECK(ack.back().header.ack == t.peer_nxt + 6);
    std::vector<uint8_t> buffer(16);
    CHECK(t.conn->recv(buffer, t.now).bytes == 5);
    IoResult eof = t.conn->recv(buffer, t.now);
    CHECK(eof.bytes == 0);
    CHECK(eof.error == 0);
    // Still allowed to send in CLOSE-WAIT (half-close).
    CHECK(t.conn->send(std::vector<uint8_t>(100, 'r'), t.now).bytes == 100);
    auto data = t.out();
    REQUIRE(data.size() == 1);
    CHECK(data[0].payload.size() == 100);
}

TEST_CASE("delayed ACK and quick ACK", "[tcp][state][ack]") {
    ScriptedPeer t;
    t.config.quickack_segments = 0;
    t.establish_active();
    t.peer_data(100);
    CHECK(t.out().empty());
    CHECK(t.conn->next_deadline() == t.now + 40ms);
    t.peer_data(100);  // the second segment is acknowledged at once
    CHECK(only_ack(t.out(), t.peer_nxt));
    t.peer_data(100);
    CHECK(t.out().empty());
    t.now += 40ms;
    t.conn->on_timer(t.now);
    CHECK(only_ack(t.out(), t.peer_nxt));
    t.conn->set_quickack(true, t.now);
    t.peer_data(100);
    CHECK(only_ack(t.out(), t.peer_nxt));
}

TEST_CASE("a burst from the wire is acknowledged once, at its end", "[tcp][state][ack]") {
    ScriptedPeer t;
    t.config.quickack_segments = 0;
    t.establish_active();
    SECTION("in-order segments: one ACK for the burst") {
        t.conn->batch_acks(true);
        for (int i = 0; i < 10; ++i) t.peer_data(1000);
        t.conn->batch_acks(false);
        CHECK(t.out().empty());
        CHECK(t.conn->batch_ack_pending());
        // The delayed-ACK timer stands behind it.
        CHECK(t.conn->next_deadline() <= t.now + 40ms);
        t.conn->flush_batch_ack(t.now);
        CHECK(only_ack(t.out(), t.peer_nxt));
        CHECK_FALSE(t.conn->batch_ack_pending());
        t.conn->flush_batch_ack(t.now);  // owed once, sent once
        CHECK(t.out().empty());
    }
    SECTION("a hole is reported at once, burst or not") {
        t.conn->batch_acks(true);
        t.peer_data(1000);
        t.peer_data(1000);
        const uint32_t hole = t.peer_nxt;
        t.deliver(flags::kAck, hole + 1000, t.conn_nxt(), std::vector<uint8_t>(1000, 'x'));
        t.conn->batch_acks(false);
        const auto dup = t.out();
        REQUIRE(dup.size() == 1);
        CHECK(dup[0].header.ack == hole);  // the duplicate ACK, with the burst's data
        // That ACK covered the burst: nothing more is owed at its end.
        t.conn->flush_batch_ack(t.now);
        CHECK(t.out().empty());
    }
    SECTION("data sent during the burst carries the ACK") {
        t.conn->batch_acks(true);
        t.peer_data(1000);
        t.peer_data(1000);
        t.conn->batch_acks(false);
        t.conn->send(std::vector<uint8_t>(10, 1), t.now);
        const auto reply = t.out();
        REQUIRE(reply.size() == 1);
        CHECK(reply[0].header.ack == t.peer_nxt);
        t.conn->flush_batch_ack(t.now);
        CHECK(t.out().empty());
    }
}

TEST_CASE("handover state: what Linux needs to carry an established connection on",
          "[tcp][state][handover]") {
    ScriptedPeer t;
    t.config.quickack_segments = 0;
    t.establish_active();
    t.peer_data(100);                                          // unread
    t.conn->send(std::vector<uint8_t>(50, 7), t.now);          // sent, unacknowledged
    t.track(t.out());
    const auto state = t.conn->handover_state(t.now);
    REQUIRE(state);
    CHECK(state->snd_una == t.iss + 1);
    CHECK(state->send_queue == std::vector<uint8_t>(50, 7));
    CHECK(state->rcv_nxt == t.peer_nxt);
    CHECK(state->receive_queue == std::vector<uint8_t>(100, 'x'));
    CHECK(state->peer_mss == 1460);
    // The window we last advertised, from the ACK that carried it.
    CHECK(state->rcv_wup <= state->rcv_nxt);
    CHECK(state->rcv_wup + state->rcv_wnd >= state->rcv_nxt);
    CHECK(state->max_window >= state->snd_wnd);
    SECTION("a FIN received: Linux's repair cannot restore it") {
        t.deliver_next(flags::kFin | flags::kAck, t.conn_nxt());
        CHECK_FALSE(t.conn->handover_state(t.now));
    }
    SECTION("a FIN sent: neither") {
        t.conn->shutdown(false, true, t.now);
        CHECK_FALSE(t.conn->handover_state(t.now));
    }
}

TEST_CASE("orphan hand-over state: a closed connection whose FIN is unacknowledged",
          "[tcp][state][handover]") {
    ScriptedPeer t;
    t.config.quickack_segments = 0;
    t.establish_active();
    CHECK_FALSE(t.conn->orphan_handover_state(t.now));  // not closed
    t.conn->send(std::vector<uint8_t>(50, 7), t.now);  // sent
    t.track(t.out());
    SECTION("FIN-WAIT-1: the unacknowledged bytes, nothing to read") {
        // Bytes from the peer that acknowledge none of ours; unread, they
        // would make Linux's close() of the taken-over socket reset it.
        t.deliver_next(flags::kAck | flags::kPsh, t.iss + 1, std::vector<uint8_t>(100, 'x'));
        t.track(t.out());
        t.to_fin_wait1();
        const auto state = t.conn->orphan_handover_state(t.now);
        REQUIRE(state);
        CHECK(state->snd_una == t.iss + 1);
        CHECK(state->send_queue == std::vector<uint8_t>(50, 7));
        CHECK(state->rcv_nxt == t.peer_nxt);
        CHECK(state->receive_queue.empty());
    }
    SECTION("CLOSING: the bytes acknowledged, the FIN not; the peer's FIN in rcv_nxt") {
        t.to_closing();
        const auto state = t.conn->orphan_handover_state(t.now);
        REQUIRE(state);
        CHECK(state->snd_una == t.conn_nxt() - 1);
        CHECK(state->send_queue.empty());
        CHECK(state->rcv_nxt == t.peer_nxt);
    }
    SECTION("LAST-ACK") {
        t.to_last_ack();
        const auto state = t.conn->orphan_handover_state(t.now);
        REQUIRE(state);
        CHECK(state->rcv_nxt == t.peer_nxt);
    }
    SECTION("FIN-WAIT-2: the FIN is acknowledged, nothing is owed") {
        t.to_fin_wait2();
        CHECK_FALSE(t.conn->orphan_handover_state(t.now));
    }
}

TEST_CASE("Nagle, TCP_NODELAY and TCP_CORK", "[tcp][state][nagle]") {
    ScriptedPeer t;
    t.establish_active();
    const std::vector<uint8_t> byte{1};
    SECTION("Nagle holds small segments while data is unacknowledged") {
        t.conn->send(byte, t.now);
        CHECK(t.out().size() == 1);
        t.conn->send(byte, t.now);
        t.conn->send(byte, t.now);
        CHECK(t.out().empty());
        t.deliver(flags::kAck, t.peer_nxt, t.iss + 2);
        auto held = t.out();
        REQUIRE(held.size() == 1);
        CHECK(held[0].payload.size() == 2);
    }
    SECTION("NODELAY sends every write") {
        t.conn->set_nodelay(true, t.now);
        t.conn->send(byte, t.now);
        t.conn->send(byte, t.now);
        CHECK(t.out().size() == 2);
    }
    SECTION("CORK holds partial segments until uncorked") {
        t.conn->set_cork(true, t.now);
        t.conn->send(std::vector<uint8_t>(100, 1), t.now);
        t.conn->send(std::vector<uint8_t>(100, 1), t.now);
        CHECK(t.out().empty());
        t.conn->send(std::vector<uint8_t>(1460, 1), t.now);  // a full segment goes
        auto full = t.out();
        REQUIRE(full.size() == 1);
        CHECK(full[0].payload.size() == 1460);
        t.conn->set_cork(false, t.now);
        auto rest = t.out();
        REQUIRE(rest.size() == 1);
        CHECK(rest[0].payload.size() == 200);
    }
    SECTION("CORK gives up after 200 ms") {
        t.conn->set_cork(true, t.now);
        t.conn->send(std::vector<uint8_t>(100, 1), t.now);
        CHECK(t.out().empty());
        CHECK(t.conn->next_deadline() == t.now + 200ms);
        t.now += 200ms;
        t.conn->on_timer(t.now);
        CHECK(t.out().size() == 1);
    }
}

TEST_CASE("zero window: persist probes, then the window update resumes sending",
          "[tcp][state][window]") {
    ScriptedPeer t;
    t.establish_active({}, 0);
    CHECK(t.conn->send(std::vector<uint8_t>(3000, 7), t.now).bytes == 3000);
    CHECK(t.out().empty());
    Duration previous{0};
    Instant last = t.now;
    for (int probe = 0; probe < 4; ++probe) {
        const Instant deadline = t.conn->next_deadline();
        REQUIRE(deadline != kNever);
        if (probe > 0) CHECK(deadline - last > previous);  // backing off
        previous = deadline - last;
        last = t.now = deadline;
        t.conn->on_timer(t.now);
        auto p = t.out();
        REQUIRE(p.size() == 1);
        CHECK(p[0].header.seq == t.iss);  // SND.UNA - 1: elicits an ACK
        CHECK(p[0].payload.empty());
        t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, {}, {}, 0);  // still closed
        CHECK(t.out().empty());
    }
    CHECK(t.conn->state() == TcpState::kEstablished);
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, {}, {}, 2000);  // window update
    auto data = t.out();
    REQUIRE(data.size() == 1);
    CHECK(data[0].payload.size() == 1460);
    // Sender SWS avoidance: 540 usable bytes (< half the largest window) wait
    // for the ACK; then the rest flows.
    size_t sent = data[0].payload.size();
    for (int round = 0; round < 10 && sent < 3000; ++round) {
        t.deliver(flags::kAck, t.peer_nxt, t.iss + 1 + static_cast<uint32_t>(sent), {}, {}, 2000);
        for (const auto& s : t.out()) sent += s.payload.size();
    }
    CHECK(sent == 3000);
}

TEST_CASE("a window shrunk to zero under outstanding data is probed, not timed out",
          "[tcp][state][window]") {
    ScriptedPeer t;
    t.config.retries2 = 3;
    t.establish_active();
    t.conn->send(std::vector<uint8_t>(1000, 7), t.now);
    REQUIRE(t.out().size() == 1);
    // The peer acknowledges nothing and closes its window (RFC 9293 discourages it).
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, {}, {}, 0);
    for (int i = 0; i < 10; ++i) {
        t.now = t.conn->next_deadline();
        t.conn->on_timer(t.now);
        auto probe = t.out();
        REQUIRE(probe.size() == 1);
        CHECK(probe[0].payload.size() == 1000);
        t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, {}, {}, 0);  // still alive, still closed
    }
    CHECK(t.conn->state() == TcpState::kEstablished);  // 10 RTOs > retries2, yet alive
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1001, {}, {}, 5000);
    CHECK(t.conn->info(t.now).unacked == 0);
}

TEST_CASE("zero window with a user timeout gives up", "[tcp][state][window]") {
    ScriptedPeer t;
    t.config.user_timeout = 10s;
    t.establish_active({}, 0);
    t.conn->send(std::vector<uint8_t>(10, 7), t.now);
    const Instant start = t.now;
    while (t.conn->state() != TcpState::kClosed && t.now - start < 100s) {
        t.now = t.conn->next_deadline();
        t.conn->on_timer(t.now);
        t.out();
        if (t.conn->state() != TcpState::kClosed)
            t.deliver(flags::kAck, t.peer_nxt, t.iss + 1, {}, {}, 0);
        t.out();
    }
    CHECK(t.conn->error() == ETIMEDOUT);
    CHECK(t.now - start >= 10s);
    CHECK(t.now - start < 30s);
}

TEST_CASE("closing with unread data or receiving data after close resets", "[tcp][state][rst]") {
    ScriptedPeer t;
    t.establish_active();
    SECTION("unread data") {
        t.peer_data(10);
        t.out();
        t.conn->close(t.now);
        auto rst = t.out();
        REQUIRE(rst.size() == 1);
        CHECK((rst[0].header.flags & flags::kRst) != 0);
        CHECK(rst[0].header.seq == t.iss + 1);
        CHECK(t.conn->state() == TcpState::kClosed);
    }
    SECTION("data for a closed application") {
        t.conn->close(t.now);
        t.track(t.out());
        CHECK(t.conn->state() == TcpState::kFinWait1);
        t.peer_data(10);
        auto rst = t.out();
        REQUIRE(rst.size() == 1);
        CHECK((rst[0].header.flags & flags::kRst) != 0);
        CHECK(t.conn->state() == TcpState::kClosed);
    }
    SECTION("abort") {
        t.conn->abort(t.now);
        auto rst = t.out();
        REQUIRE(rst.size() == 1);
        CHECK(rst[0].header.flags == (flags::kRst | flags::kAck));
        CHECK(t.conn->state() == TcpState::kClosed);
        CHECK(t.conn->error() == 0);
    }
}

TEST_CASE("orphaned FIN-WAIT-2 times out", "[tcp][state]") {
    ScriptedPeer t;
    t.config.fin_wait2_timeout = 5s;
    t.establish_active();
    t.conn->close(t.now);
    t.track(t.out());
    t.deliver(flags::kAck, t.peer_nxt, t.conn_nxt());
    REQUIRE(t.conn->state() == TcpState::kFinWait2);
    CHECK(t.conn->next_deadline() == t.now + 5s);
    t.now += 5s;
    t.conn->on_timer(t.now);
    CHECK(t.conn->state() == TcpState::kClosed);
}

TEST_CASE("listener: SYN starts a connection, stray ACK is reset, backlog bounds",
          "[tcp][listener]") {
    TcpConfig config;
    TcpListener listener(config, {kB, 80}, 1);
    Segment syn;
    syn.header = {40000, 80, 100, 0, flags::kSyn, 65535, 0};
    auto conn = listener.on_segment(syn, kA, kB, 1s);
    REQUIRE(conn);
    CHECK(conn->tuple().local == TcpEndpoint{kB, 80});
    CHECK(conn->tuple().remote == TcpEndpoint{kA, 40000});
    CHECK_FALSE(listener.acceptable());
    syn.header.src_port = 40001;
    CHECK_FALSE(listener.on_segment(syn, kA, kB, 1s));  // backlog of 1 is full
    Segment ack;
    ack.header = {40002, 80, 100, 4242, flags::kAck, 65535, 0};
    CHECK_FALSE(listener.on_segment(ack, kA, kB, 1s));
    auto rst = listener.pop_output();
    REQUIRE(rst);
    CHECK(rst->header.flags == flags::kRst);
    CHECK(rst->header.seq == 4242);
    CHECK(rst->dst_addr == kA);
    // Complete the handshake: accept() hands it out.
    auto synack = conn->pop_output();
    REQUIRE(synack);
    Segment final_ack;
    final_ack.header = {40000, 80, 101, synack->header.seq + 1, flags::kAck, 65535, 0};
    conn->on_segment(final_ack, 1s);
    CHECK(listener.acceptable());
    CHECK(listener.accept() == conn);
    CHECK_FALSE(listener.accept());
}

TEST_CASE("reset_for answers segments to closed ports per RFC 9293", "[tcp][rst]") {
    Segment syn;
    syn.header = {40000, 81, 1000, 0, flags::kSyn, 65535, 0};
    auto rst = reset_for(syn, kA, kB);
    REQUIRE(rst);
    CHECK(rst->header.flags == (flags::kRst | flags::kAck));
    CHECK(rst->header.seq == 0);
    CHECK(rst->header.ack == 1001);
    CHECK(rst->header.src_port == 81);
    CHECK(rst->src_addr == kB);
    Segment data;
    std::vector<uint8_t> payload(10);
    data.header = {40000, 81, 1000, 77, flags::kAck, 65535, 0};
    data.payload = payload;
    rst = reset_for(data, kA, kB);
    REQUIRE(rst);
    CHECK(rst->header.flags == flags::kRst);
    CHECK(rst->header.seq == 77);
    data.header.flags = flags::kRst;
    CHECK_FALSE(reset_for(data, kA, kB));
}

}  // namespace xlane::tcp

namespace xlane::tcp::test {
namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t start) {
    std::vector<uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(start + i * 7);
    return bytes;
}

// Encodes a popped segment with its payload views, as the engine does, and
// returns the payload the checksum-verified frame carries.
std::vector<uint8_t> wire_payload(const OutSegment& s, PayloadParts parts) {
    std::vector<uint8_t> frame(encoded_frame_size(s));
    const FrameAddressing addressing{};
    REQUIRE(encode_frame(s, parts, addressing, 1, frame) == frame.size());
    const auto parsed = packet::parse_frame(frame);
    REQUIRE(parsed.ok());
    const DecodedSegment d =
        decode_segment(std::span(frame).subspan(parsed.l4_offset), s.src_addr, s.dst_addr);
    REQUIRE(d.ok());
    return {d.segment.payload.begin(), d.segment.payload.end()};
}

}  // namespace

TEST_CASE("data segments are encoded from the send buffer, across its wrap", "[tcp][state]") {
    ScriptedPeer t;
    t.config.send_buffer = 4096;
    t.config.nodelay = true;
    TcpOptions peer;
    peer.mss = 1000;
    t.establish_active(peer);

    // 2999 bytes, 2000 of them acknowledged: the buffer's head moves to
    // 2000 (an empty buffer would start again at 0).
    REQUIRE(t.conn->send(pattern(2999, 1), t.now).bytes == 2999);
    t.track(t.out());
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1 + 2000);

    // The next 3000 wrap at 4096, the second segment after 97 bytes (an odd
    // split, which the checksum cannot chain across).
    const std::vector<uint8_t> data = pattern(3000, 50);
    REQUIRE(t.conn->send(data, t.now).bytes == 3000);
    std::vector<uint8_t> received;
    PayloadParts parts;
    bool split_seen = false;
    while (auto s = t.conn->pop_output(parts)) {
        CHECK(s->payload.empty());  // no copy: views into the buffer
        CHECK(parts.size() == s->buffered_len);
        if (!parts.tail.empty()) {
            split_seen = true;
            CHECK(parts.head.size() == 97);
        }
        const auto bytes = wire_payload(*s, parts);
        received.insert(received.end(), bytes.begin(), bytes.end());
    }
    CHECK(split_seen);
    CHECK(received == data);
}

TEST_CASE("a queued segment keeps its bytes when they are acknowledged before it is sent",
          "[tcp][state]") {
    ScriptedPeer t;
    t.config.nodelay = true;
    t.establish_active();
    const std::vector<uint8_t> data = pattern(1000, 9);
    REQUIRE(t.conn->send(data, t.now).bytes == 1000);
    // Still queued (not popped) when an ACK for it lets the buffer go.
    t.deliver(flags::kAck, t.peer_nxt, t.iss + 1 + 1000);
    PayloadParts parts;
    auto s = t.conn->pop_output(parts);
    REQUIRE(s);
    CHECK(s->buffered_len == 0);
    CHECK(s->payload == data);
    CHECK(wire_payload(*s, parts) == data);
}

}  // namespace xlane::tcp::test
