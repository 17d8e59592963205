// Sequence arithmetic, the option and segment codec (against hand-made bytes
// and FrameBuilder frames), the reassembly queue, RTO arithmetic and the
// congestion-control window rules.
#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

#include "packet/frame_builder.h"
#include "packet/frame_parser.h"
#include "tcp/congestion_control.h"
#include "tcp/reassembly_queue.h"
#include "tcp/rtt_estimator.h"
#include "tcp/seq.h"
#include "tcp/siphash.h"
#include "tcp/tcp_connection.h"
#include "tcp/tcp_frame.h"
#include "tcp/tcp_segment.h"

namespace xlane::tcp {
namespace {

using namespace std::chrono_literals;
const packet::Ipv6Addr kA = packet::ipv4_mapped({198, 18, 0, 1});
const packet::Ipv6Addr kB = packet::ipv4_mapped({198, 18, 0, 2});

}  // namespace

TEST_CASE("SipHash-2-4 matches the reference test vector", "[tcp][seq]") {
    // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
    const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    std::vector<uint8_t> message(15);
    for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i);
    CHECK(siphash24(key, message) == 0xa129ca6149be45e5ULL);
    // ISNs: keyed by the tuple, advancing with a 4 us clock.
    const FourTuple t{{kA, 1}, {kB, 2}};
    const FourTuple u{{kA, 1}, {kB, 3}};
    CHECK(initial_sequence(t, 9, 0s) != initial_sequence(u, 9, 0s));
    CHECK(initial_sequence(t, 9, 0s) != initial_sequence(t, 10, 0s));
    CHECK(initial_sequence(t, 9, 4ms) - initial_sequence(t, 9, 0s) == 1000);
}

TEST_CASE("sequence numbers compare modulo 2^32", "[tcp][seq]") {
    CHECK(seq_lt(1, 2));
    CHECK_FALSE(seq_lt(2, 2));
    CHECK(seq_le(2, 2));
    CHECK(seq_lt(0xffffff00u, 0x10));  // across the wrap
    CHECK(seq_gt(0x10, 0xffffff00u));
    CHECK(seq_in_range(0xfffffff0u, 0xffffffe0u, 0x20));
    CHECK_FALSE(seq_in_range(0x20, 0xffffffe0u, 0x20));  // half-open
    CHECK(seq_max(0xfffffff0u, 5) == 5);
    CHECK(seq_min(0xfffffff0u, 5) == 0xfffffff0u);
    CHECK(seq_distance(0xfffffffeu, 3) == 5);
    // Up to 2^31 - 1 apart the order is unambiguous; beyond, it flips.
    CHECK(seq_lt(0, 0x7fffffffu));
    CHECK(seq_gt(0, 0x80000001u));
}

TEST_CASE("options round-trip in Linux's layout", "[tcp][options]") {
    TcpOptions syn;
    syn.mss = 1460;
    syn.sack_permitted = true;
    syn.timestamps = Timestamps{0x01020304, 0};
    syn.window_scale = 7;
    std::vector<uint8_t> bytes(40);
    const size_t n = encode_options(syn, bytes);
    REQUIRE(n == 20);
    // MSS, SACK-permitted, timestamps, NOP, window scale: what Linux sends.
    const std::vector<uint8_t> expected = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2,
                                           3, 4, 0,    0,    0, 0, 1, 3,  3, 7};
    CHECK(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20) == expected);
    auto decoded = decode_options(std::span(bytes).first(n));
    REQUIRE(decoded);
    CHECK(decoded->mss == 1460);
    CHECK(decoded->sack_permitted);
    CHECK(decoded->window_scale == 7);
    CHECK(decoded->timestamps == Timestamps{0x01020304, 0});

    TcpOptions ack;
    ack.timestamps = Timestamps{7, 8};
    ack.sack[0] = {100, 200};
    ack.sack[1] = {300, 400};
    ack.sack[2] = {0xfffffff0u, 0x10};
    ack.sack_count = 3;
    CHECK(ack.encoded_size() == 40);
    REQUIRE(encode_options(ack, bytes) == 40);
    decoded = decode_options(bytes);
    REQUIRE(decoded);
    REQUIRE(decoded->sack_count == 3);
    CHECK(decoded->sack[2] == SackBlock{0xfffffff0u, 0x10});
    CHECK(decoded->timestamps == Timestamps{7, 8});

    TcpOptions too_many = ack;
    too_many.sack[3] = {500, 600};
    too_many.sack_count = 4;  // 4 blocks + timestamps do not fit in 40 bytes
    CHECK(encode_options(too_many, bytes) == 0);
}

TEST_CASE("malformed options are refused or ignored, never overrun", "[tcp][options]") {
    SegmentError error = SegmentError::kNone;
    // Length 0 and 1 would loop forever or point backwards.
    CHECK_FALSE(decode_options(std::vector<uint8_t>{2, 0, 0, 0}, &error));
    CHECK(error == SegmentError::kBadOptionLength);
    CHECK_FALSE(decode_options(std::vector<uint8_t>{8, 1, 0, 0}));
    // Length past the option space.
    CHECK_FALSE(decode_options(std::vector<uint8_t>{1, 1, 8, 10, 0, 0}));
    // Kind with no room for its length byte.
    CHECK_FALSE(decode_options(std::vector<uint8_t>{1, 1, 1, 2}));
    // Known kinds with a wrong length are skipped, the rest still decoded.
    auto o = decode_options(std::vector<uint8_t>{2, 3, 5, 3, 3, 9, 4, 2});
    REQUIRE(o);
    CHECK_FALSE(o->mss);
    CHECK(o->window_scale == 9);
    CHECK(o->sack_permitted);
    // Window scale above 14 is treated as 14 (RFC 7323 §2.3).
    o = decode_options(std::vector<uint8_t>{3, 3, 200, 0});
    REQUIRE(o);
    CHECK(o->window_scale == 14);
    // SACK with a length that is not 2 + 8n is ignored.
    o = decode_options(std::vector<uint8_t>{5, 6, 0, 0, 0, 1, 0, 0});
    REQUIRE(o);
    CHECK(o->sack_count == 0);
    // Unknown options are skipped by length; EOL stops parsing.
    o = decode_options(std::vector<uint8_t>{30, 4, 1, 2, 0, 2, 0, 0});
    REQUIRE(o);
    CHECK_FALSE(o->mss);
}

TEST_CASE("segments decode from FrameBuilder frames and encode back identically",
          "[tcp][segment]") {
    std::vector<uint8_t> options = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};
    std::vector<uint8_t> payload = {'h', 'e', 'l', 'l', 'o'};
    const auto frame =
        packet::FrameBuilder()
            .eth({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2})
            .ipv4({198, 18, 0, 1}, {198, 18, 0, 2})
            .tcp(1234, 80, packet::tcp_flags::kSyn | packet::tcp_flags::kAck, 1000, 2000)
            .tcp_window(29200)
            .tcp_options(options)
            .payload(payload)
            .build();
    const auto parsed = packet::parse_frame(frame);
    REQUIRE(parsed.ok());
    const auto l4 = std::span(frame).subspan(parsed.l4_offset);
    const DecodedSegment d = decode_segment(l4, parsed.src_addr, parsed.dst_addr);
    REQUIRE(d.ok());
    const Segment& s = d.segment;
    CHECK(s.header.src_port == 1234);
    CHECK(s.header.seq == 1000);
    CHECK(s.header.ack == 2000);
    CHECK(s.header.window == 29200);
    CHECK(s.header.has(flags::kSyn));
    CHECK(s.options.mss == 1460);
    CHECK(s.options.sack_permitted);
    CHECK(s.seq_length() == 6);
    CHECK(std::vector<uint8_t>(s.payload.begin(), s.payload.end()) == payload);

    std::vector<uint8_t> out(128);
    const size_t n =
        encode_segment(s.header, s.options, s.payload, parsed.src_addr, parsed.dst_addr, out);
    REQUIRE(n == l4.size());
    CHECK(std::vector<uint8_t>(out.begin(), out.begin() + n) ==
          std::vector<uint8_t>(l4.begin(), l4.end()));

    // Corruptions are refused with the reason.
    auto bad = std::vector<uint8_t>(l4.begin(), l4.end());
    bad[20] ^= 1;
    CHECK(decode_segment(bad, parsed.src_addr, parsed.dst_addr).error ==
          SegmentError::kBadChecksum);
    bad = std::vector<uint8_t>(l4.begin(), l4.end());
    bad[12] = 0x40;  // data offset 4
    CHECK(decode_segment(bad, kA, kB, false).error == SegmentError::kBadDataOffset);
    bad[12] = 0xf0;  // 60 bytes, past the end
    CHECK(decode_segment(bad, kA, kB, false).error == SegmentError::kBadDataOffset);
    CHECK(decode_segment(std::span(bad).first(19), kA, kB, false).error ==
          SegmentError::kTruncated);
    bad = std::vector<uint8_t>(l4.begin(), l4.end());
    bad[21] = 0;  // MSS option length 0
    CHECK(decode_segment(bad, kA, kB, false).error == SegmentError::kBadOptionLength);
    CHECK(encode_segment(s.header, s.options, s.payload, kA, kB, std::span(out).first(20)) == 0);
}

TEST_CASE("a payload in two parts encodes as the same bytes at every split", "[tcp][segment]") {
    SegmentHeader header{1234, 80, 1000, 2000, flags::kAck | flags::kPsh, 512, 0};
    TcpOptions options;
    options.timestamps = Timestamps{1, 2};
    std::vector<uint8_t> payload(301);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13 + 5);
    std::vector<uint8_t> whole(512);
    const size_t n = encode_segment(header, options, packet::Bytes(payload), kA, kB, whole);
    REQUIRE(n == encoded_segment_size(options, payload.size()));
    for (size_t split = 0; split <= payload.size(); ++split) {
        const PayloadParts parts{packet::Bytes(payload).first(split),
                                 packet::Bytes(payload).subspan(split)};
        std::vector<uint8_t> out(512);
        REQUIRE(encode_segment(header, options, parts, kA, kB, out) == n);
        CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), whole.begin()));
    }
}

TEST_CASE("IPv6 segments use the IPv6 pseudo-header", "[tcp][segment]") {
    const auto a6 = *packet::parse_ipv6("fd00:198:18::1");
    const auto b6 = *packet::parse_ipv6("fd00:198:18::2");
    std::vector<uint8_t> payload(100, 0x5a);
    const auto frame = packet::FrameBuilder()
                           .eth({2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2})
                           .ipv6(a6, b6)
                           .tcp(5, 6, packet::tcp_flags::kAck, 1, 2)
                           .payload(payload)
                           .build();
    const auto parsed = packet::parse_frame(frame);
    REQUIRE(parsed.ok());
    const auto l4 = std::span(frame).subspan(parsed.l4_offset);
    REQUIRE(decode_segment(l4, a6, b6).ok());
    CHECK(decode_segment(l4, b6, b6).error == SegmentError::kBadChecksum);
}

TEST_CASE("reassembly queue stores only new bytes and reports SACK ranges", "[tcp][reassembly]") {
    ReassemblyQueue q;
    std::vector<uint8_t> data(100);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
    const uint32_t base = 0xffffffc0u;  // wraps inside the test
    CHECK(q.insert(base + 50, std::span(data).subspan(50, 10)) == 10);
    CHECK(q.insert(base + 70, std::span(data).subspan(70, 10)) == 10);
    CHECK(q.insert(base + 55, std::span(data).subspan(55, 20)) == 10);  // fills 60..70 only
    CHECK(q.bytes() == 30);
    auto ranges = q.ranges();
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0] == SackBlock{base + 50, base + 80});
    CHECK(q.insert(base + 90, std::span(data).subspan(90, 5)) == 5);
    auto blocks = q.sack_blocks(4);
    REQUIRE(blocks.size() == 2);
    CHECK(blocks[0] == SackBlock{base + 90, base + 95});  // most recent first
    CHECK_FALSE(q.pop_in_order(base + 40));
    auto chunk = q.pop_in_order(base + 52);  // partly delivered already
    REQUIRE(chunk);
    REQUIRE(chunk->size() == 8);
    CHECK((*chunk)[0] == 52);
    CHECK(q.bytes() == 25);
    // Blocks entirely below rcv_nxt are discarded.
    auto next = q.pop_in_order(base + 92);
    REQUIRE(next);
    CHECK(next->size() == 3);
    CHECK(q.empty());
}

TEST_CASE("RTO follows RFC 6298 with backoff and bounds", "[tcp][rto]") {
    RttEstimator rtt;
    CHECK(rtt.rto() == 1s);
    rtt.sample(100ms);
    CHECK(rtt.srtt() == 100ms);
    CHECK(rtt.rttvar() == 50ms);
    CHECK(rtt.rto() == 300ms);  // 100 + 4 * 50
    rtt.sample(100ms);
    CHECK(rtt.rttvar() == 37500us);
    CHECK(rtt.rto() == 250ms);
    rtt.back_off();
    CHECK(rtt.rto() == 500ms);
    for (int i = 0; i < 40; ++i) rtt.back_off();
    CHECK(rtt.rto() == 120s);
    rtt.sample(1ms);  // a new sample clears the backoff; floor of 200 ms
    CHECK(rtt.backoff() == 0);
    CHECK(rtt.rto() >= 200ms);
    RttEstimator fresh;
    fresh.lost_syn();
    CHECK(fresh.rto() == 3s);
}

TEST_CASE("NewReno and CUBIC window rules", "[tcp][cc]") {
    const uint32_t mss = 1000;
    NewReno reno(mss, 10);
    CHECK(reno.cwnd() == 10000);
    reno.on_ack(1000, true, 0s, 10ms);
    CHECK(reno.cwnd() == 11000);  // slow start
    reno.on_ack(1000, false, 0s, 10ms);
    CHECK(reno.cwnd() == 11000);  // not window-limited: no growth
    reno.on_congestion_event(20000, 0s);
    CHECK(reno.ssthresh() == 10000);
    CHECK(reno.cwnd() == 10000);
    for (int i = 0; i < 10; ++i) reno.on_ack(1000, true, 0s, 10ms);
    CHECK(reno.cwnd() == 11000);  // one MSS per window in congestion avoidance
    reno.on_timeout(3000, 0s);
    CHECK(reno.cwnd() == 1000);
    CHECK(reno.ssthresh() == 2000);  // never below 2 MSS

    Cubic cubic(mss, 10);
    cubic.on_congestion_event(100000, 0s);
    CHECK(cubic.ssthresh() == 70000);  // beta 0.7
    CHECK(cubic.cwnd() == 70000);
    // Growth is concave towards W_max = 100 segments, then convex beyond it.
    Instant t{0};
    uint32_t previous = cubic.cwnd();
    bool passed_w_max = false;
    for (int rtt = 0; rtt < 200; ++rtt) {
        t += 10ms;
        for (uint32_t i = 0; i < cubic.cwnd() / mss; ++i) cubic.on_ack(mss, true, t, 10ms);
        CHECK(cubic.cwnd() >= previous);
        previous = cubic.cwnd();
        if (cubic.cwnd() > 100000) passed_w_max = true;
    }
    CHECK(passed_w_max);
    CHECK(congestion_algorithm_from("cubic") == CongestionAlgorithm::kCubic);
    CHECK(congestion_algorithm_from("reno") == CongestionAlgorithm::kNewReno);
    CHECK_FALSE(congestion_algorithm_from("bbr"));
}

}  // namespace xlane::tcp

namespace xlane::tcp {

TEST_CASE("encode_frame output passes the packet parser's checks", "[tcp][segment]") {
    OutSegment s;
    s.src_addr = packet::ipv4_mapped({198, 18, 0, 3});
    s.dst_addr = packet::ipv4_mapped({198, 18, 0, 2});
    s.header = {40000, 80, 123456, 654321, flags::kAck | flags::kPsh, 500, 0};
    s.options.timestamps = Timestamps{1, 2};
    s.payload.assign(1000, 0xab);
    FrameAddressing addressing;
    addressing.src_mac = {2, 0, 0, 0, 0, 3};
    addressing.dst_mac = {2, 0, 0, 0, 0, 2};
    std::vector<uint8_t> frame(2000);
    const size_t n = encode_frame(s, addressing, 7, frame);
    REQUIRE(n == 14 + 20 + 32 + 1000);
    frame.resize(n);
    const auto parsed = packet::parse_frame(frame);  // verifies IP and TCP checksums
    REQUIRE(parsed.ok());
    CHECK(parsed.tcp_seq == 123456);
    CHECK(parsed.payload_length == 1000);
    CHECK(parsed.src_addr == s.src_addr);

    s.src_addr = *packet::parse_ipv6("fd00:198:18::3");
    s.dst_addr = *packet::parse_ipv6("fd00:198:18::2");
    frame.assign(2000, 0);
    const size_t n6 = encode_frame(s, addressing, 0, frame);
    REQUIRE(n6 == 14 + 40 + 32 + 1000);
    frame.resize(n6);
    const auto parsed6 = packet::parse_frame(frame);
    REQUIRE(parsed6.ok());
    CHECK(parsed6.dst_port == 80);
    // Mixed families are refused.
    s.dst_addr = packet::ipv4_mapped({198, 18, 0, 2});
    CHECK(encode_frame(s, addressing, 0, frame) == 0);
}

}  // namespace xlane::tcp
