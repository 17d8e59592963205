// Reassembler: every arrival order, duplicates, overlaps (RFC 5722), keys,
// inconsistent fragments, the timeout and the byte budget, for both families.
#include "udp/reassembler.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>

#include "packet/frame_builder.h"
#include "udp_test_support.h"

using namespace xlane;
using namespace xlane::udp;
using namespace xlane::udp::test;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

using Frames = std::vector<std::vector<uint8_t>>;

Frames fragments(bool ipv6, size_t payload, uint32_t id, uint32_t mtu,
                 const packet::Ipv6Addr* src = nullptr) {
    auto t = make_template(ipv6, mtu);
    if (src != nullptr) t.src_addr = *src;
    auto frames = encode_frames(make_encoder(t), pattern(payload, id), id);
    REQUIRE(frames.ok());
    return frames.value();
}

// Checks a reassembled frame is the datagram fragments() encoded.
void check_datagram(const ReassemblyOutcome& outcome, size_t payload, uint32_t id) {
    REQUIRE(outcome.verdict == FragmentVerdict::kReassembled);
    const auto p = packet::parse_frame(outcome.frame);
    REQUIRE(p.ok());
    const auto want = pattern(payload, id);
    REQUIRE(p.payload_length == payload);
    CHECK(std::equal(want.begin(), want.end(), outcome.frame.begin() + p.payload_offset));
}

// Raw fragments with FrameBuilder, for shapes the encoder never makes.
std::vector<uint8_t> v4_fragment(uint16_t id, uint16_t offset_units, bool more, size_t size) {
    return packet::FrameBuilder()
        .eth(kMacA, kMacB)
        .ipv4({198, 18, 0, 1}, {198, 18, 0, 2})
        .ipv4_id(id)
        .ipv4_fragment(offset_units, more)
        .ip_protocol(packet::kProtoUdp)
        .payload_size(size)
        .build();
}
std::vector<uint8_t> v6_fragment(uint32_t id, uint16_t offset_units, bool more, size_t size) {
    return packet::FrameBuilder()
        .eth(kMacA, kMacB)
        .ipv6(kIp6A, kIp6B)
        .ipv6_fragment(offset_units, more, id)
        .payload_size(size)
        .build();
}

}  // namespace

TEST_CASE("fragments in order, reverse and random order", "[udp][reassembler]") {
    for (bool ipv6 : {false, true}) {
        const auto frames = fragments(ipv6, 6000, 0x4242, 1280);
        REQUIRE(frames.size() == 5);
        std::vector<size_t> order(frames.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::mt19937 rng(1234);
        for (int round = 0; round < 20; ++round) {
            CAPTURE(ipv6, round);
            if (round == 1) std::reverse(order.begin(), order.end());
            if (round >= 2) std::shuffle(order.begin(), order.end(), rng);
            Reassembler r;
            for (size_t k = 0; k + 1 < order.size(); ++k) {
                CHECK(r.submit(frames[order[k]], 0).verdict == FragmentVerdict::kQueued);
                CHECK(r.pending_datagrams() == 1);
            }
            check_datagram(r.submit(frames[order.back()], 0), 6000, 0x4242);
            CHECK(r.pending_datagrams() == 0);
            CHECK(r.bytes_used() == 0);
            CHECK(r.counters().reassembled == 1);
            CHECK(r.counters().fragments == 5);
        }
    }
}

TEST_CASE("duplicates are ignored", "[udp][reassembler]") {
    for (bool ipv6 : {false, true}) {
        CAPTURE(ipv6);
        const auto frames = fragments(ipv6, 5000, 7, 1280);
        // Every fragment twice in random order, except one that comes once,
        // last: the datagram completes exactly then.
        const size_t missing = 2;
        Frames doubled;
        for (size_t i = 0; i < frames.size(); ++i)
            if (i != missing) doubled.insert(doubled.end(), 2, frames[i]);
        std::mt19937 rng(99);
        std::shuffle(doubled.begin(), doubled.end(), rng);
        doubled.push_back(frames[missing]);
        Reassembler r;
        ReassemblyOutcome last;
        size_t reassembled = 0;
        for (const auto& f : doubled) {
            last = r.submit(f, 0);
            if (last.verdict == FragmentVerdict::kReassembled) ++reassembled;
        }
        CHECK(reassembled == 1);
        check_datagram(last, 5000, 7);
        CHECK(r.counters().duplicates == frames.size() - 1);
        CHECK(r.counters().dropped_overlap == 0);
        // A copy arriving after completion can only start a new datagram.
        CHECK(r.submit(frames[0], 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.pending_datagrams() == 1);
    }
    SECTION("a fragment inside one already held") {
        Reassembler r;
        CHECK(r.submit(v4_fragment(1, 0, true, 32), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v4_fragment(1, 1, true, 16), 0).verdict == FragmentVerdict::kDuplicate);
        CHECK(r.pending_datagrams() == 1);
        CHECK(r.counters().duplicates == 1);
    }
}

TEST_CASE("overlapping fragments drop the whole datagram", "[udp][reassembler]") {
    SECTION("IPv4, overlapping the end of a held fragment") {
        Reassembler r;
        CHECK(r.submit(v4_fragment(1, 0, true, 32), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v4_fragment(1, 3, true, 16), 0).verdict == FragmentVerdict::kDroppedOverlap);
        CHECK(r.pending_datagrams() == 0);
        CHECK(r.bytes_used() == 0);
        CHECK(r.counters().dropped_overlap == 1);
        // What follows starts a new datagram.
        CHECK(r.submit(v4_fragment(1, 4, false, 8), 0).verdict == FragmentVerdict::kQueued);
    }
    SECTION("IPv4, covering a held fragment") {
        Reassembler r;
        CHECK(r.submit(v4_fragment(2, 2, true, 8), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v4_fragment(2, 0, true, 40), 0).verdict == FragmentVerdict::kDroppedOverlap);
    }
    SECTION("IPv6 (RFC 5722)") {
        Reassembler r;
        CHECK(r.submit(v6_fragment(9, 2, false, 20), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v6_fragment(9, 0, true, 24), 0).verdict == FragmentVerdict::kDroppedOverlap);
        CHECK(r.counters().dropped_overlap == 1);
        CHECK(r.pending_datagrams() == 0);
    }
}

TEST_CASE("datagrams are told apart by their keys", "[udp][reassembler]") {
    for (bool ipv6 : {false, true}) {
        CAPTURE(ipv6);
        const auto other_src = ipv6 ? kIp6C : kIp4C;
        const auto a = fragments(ipv6, 3000, 5, 1280);
        const auto b = fragments(ipv6, 4000, 5, 1280, &other_src);  // same id
        const auto c = fragments(ipv6, 2000, 6, 1280);              // other id
        Reassembler r;
        Frames all;
        for (size_t i = 0; i < 4; ++i)
            for (const Frames* s : {&a, &b, &c})
                if (i < s->size()) all.push_back((*s)[i]);
        size_t done = 0;
        for (const auto& f : all) {
            const auto outcome = r.submit(f, 0);
            if (outcome.verdict != FragmentVerdict::kReassembled) {
                CHECK(outcome.verdict == FragmentVerdict::kQueued);
                continue;
            }
            const auto p = packet::parse_frame(outcome.frame);
            REQUIRE(p.ok());
            ++done;
            if (p.payload_length == 3000) check_datagram(outcome, 3000, 5);
            if (p.payload_length == 4000) check_datagram(outcome, 4000, 5);
            if (p.payload_length == 2000) check_datagram(outcome, 2000, 6);
        }
        CHECK(done == 3);
        CHECK(r.counters().reassembled == 3);
    }
    SECTION("IPv4 keys include the protocol") {
        Reassembler r;
        auto tcp_head = packet::FrameBuilder()
                            .eth(kMacA, kMacB)
                            .ipv4({198, 18, 0, 1}, {198, 18, 0, 2})
                            .ipv4_id(3)
                            .ipv4_fragment(0, true)
                            .ip_protocol(packet::kProtoTcp)
                            .payload_size(16)
                            .build();
        CHECK(r.submit(tcp_head, 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v4_fragment(3, 2, false, 8), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.pending_datagrams() == 2);
    }
}

TEST_CASE("fragments that cannot be part of a datagram", "[udp][reassembler]") {
    Reassembler r;
    SECTION("not a fragment") {
        const auto whole = fragments(false, 100, 1, 1500);
        CHECK(r.submit(whole[0], 0).verdict == FragmentVerdict::kNotFragment);
        CHECK(r.counters().fragments == 0);
    }
    SECTION("a middle fragment off an 8-byte boundary") {
        CHECK(r.submit(v4_fragment(1, 0, true, 12), 0).verdict == FragmentVerdict::kDroppedInvalid);
        CHECK(r.submit(v6_fragment(1, 0, true, 12), 0).verdict == FragmentVerdict::kDroppedInvalid);
        CHECK(r.pending_datagrams() == 0);
    }
    SECTION("an end past the largest IP packet") {
        CHECK(r.submit(v4_fragment(1, 8188, false, 16), 0).verdict ==
              FragmentVerdict::kDroppedInvalid);  // 65504 + 16 + 20 > 65535
        CHECK(r.submit(v6_fragment(1, 8191, false, 16), 0).verdict ==
              FragmentVerdict::kDroppedInvalid);  // 65528 + 16 > 65535
    }
    SECTION("a second last fragment with another end drops the datagram") {
        CHECK(r.submit(v4_fragment(1, 4, false, 8), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v4_fragment(1, 6, false, 8), 0).verdict == FragmentVerdict::kDroppedInvalid);
        CHECK(r.pending_datagrams() == 0);
    }
    SECTION("a fragment past the known end drops the datagram") {
        CHECK(r.submit(v6_fragment(1, 4, false, 8), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.submit(v6_fragment(1, 5, true, 8), 0).verdict == FragmentVerdict::kDroppedInvalid);
        CHECK(r.pending_datagrams() == 0);
        CHECK(r.counters().dropped_invalid == 1);
    }
    SECTION("a bad IPv4 header checksum") {
        auto bad = packet::FrameBuilder()
                       .eth(kMacA, kMacB)
                       .ipv4({198, 18, 0, 1}, {198, 18, 0, 2})
                       .ipv4_fragment(0, true)
                       .corrupt_ip_checksum()
                       .payload_size(16)
                       .build();
        CHECK(r.submit(bad, 0).verdict == FragmentVerdict::kDroppedInvalid);
        CHECK(r.pending_datagrams() == 0);
    }
}

TEST_CASE("an IPv6 atomic fragment is a whole datagram", "[udp][reassembler]") {
    const auto data = pattern(50);
    auto frame = packet::FrameBuilder()
                     .eth(kMacA, kMacB)
                     .ipv6(kIp6A, kIp6B)
                     .ipv6_fragment(0, false, 77)
                     .udp(1000, 2000)
                     .payload(data)
                     .build();
    Reassembler r;
    const auto outcome = r.submit(frame, 0);
    REQUIRE(outcome.verdict == FragmentVerdict::kReassembled);
    CHECK(outcome.frame.size() == frame.size() - 8);
    const auto p = packet::parse_frame(outcome.frame);
    REQUIRE(p.ok());
    CHECK(p.dst_port == 2000);
    CHECK(p.payload_length == 50);
    CHECK(r.pending_datagrams() == 0);
}

TEST_CASE("a fragment header inside a fragment is refused", "[udp][reassembler]") {
    // Reassembled, it would be a fragment again (found by fuzz_udp_rx); the
    // outer header is atomic, so it would otherwise reassemble at once.
    auto frame = packet::FrameBuilder()
                     .eth(kMacA, kMacB)
                     .ipv6(kIp6A, kIp6B)
                     .ipv6_fragment(0, false, 78)
                     .ipv6_fragment(0, false, 79)
                     .udp(1000, 2000)
                     .payload(pattern(20))
                     .build();
    Reassembler r;
    const auto outcome = r.submit(frame, 0);
    CHECK(outcome.verdict == FragmentVerdict::kDroppedInvalid);
    CHECK(outcome.frame.empty());
    CHECK(r.pending_datagrams() == 0);
}

TEST_CASE("incomplete datagrams time out", "[udp][reassembler]") {
    ReassemblyConfig config;
    Reassembler r(config);
    const auto v4 = fragments(false, 3000, 1, 1500);
    const auto v6 = fragments(true, 3000, 1, 1500);
    const uint64_t t0 = 1000 * kSecond;
    CHECK(r.submit(v4[0], t0).verdict == FragmentVerdict::kQueued);
    CHECK(r.submit(v6[0], t0 + kSecond).verdict == FragmentVerdict::kQueued);
    // The deadline runs from the first fragment; later ones do not extend it.
    CHECK(r.submit(v4[1], t0 + 29 * kSecond).verdict == FragmentVerdict::kQueued);
    CHECK(r.expire(t0 + 30 * kSecond - 1) == 0);
    CHECK(r.expire(t0 + 30 * kSecond) == 1);  // ipfrag_time
    CHECK(r.pending_datagrams() == 1);
    CHECK(r.expire(t0 + 61 * kSecond - 1) == 0);
    CHECK(r.expire(t0 + 61 * kSecond) == 1);  // ip6frag_time
    CHECK(r.pending_datagrams() == 0);
    CHECK(r.bytes_used() == 0);
    CHECK(r.counters().timed_out == 2);
    // The last fragment alone now starts a new, incomplete datagram.
    CHECK(r.submit(v4[2], t0 + 62 * kSecond).verdict == FragmentVerdict::kQueued);

    SECTION("a fragment for a stale datagram starts afresh without expire()") {
        Reassembler s(config);
        CHECK(s.submit(v4[0], 0).verdict == FragmentVerdict::kQueued);
        CHECK(s.submit(v4[1], 30 * kSecond).verdict == FragmentVerdict::kQueued);
        CHECK(s.counters().timed_out == 1);
        CHECK(s.pending_datagrams() == 1);
        CHECK(s.submit(v4[0], 30 * kSecond).verdict == FragmentVerdict::kQueued);
        check_datagram(s.submit(v4[2], 30 * kSecond), 3000, 1);
    }
}

TEST_CASE("the byte budget bounds held fragments", "[udp][reassembler]") {
    const auto big = fragments(false, 3000, 1, 1500);  // 1480 + 1480 + 48 data bytes
    const size_t first_charge =
        1480 + Reassembler::kFragmentOverhead + Reassembler::kDatagramOverhead;
    ReassemblyConfig config;
    config.budget_bytes = first_charge + 1000;
    Reassembler r(config);
    CHECK(r.submit(big[0], 0).verdict == FragmentVerdict::kQueued);
    CHECK(r.bytes_used() == first_charge);
    SECTION("a fragment that does not fit drops its datagram") {
        CHECK(r.submit(big[1], 0).verdict == FragmentVerdict::kDroppedBudget);
        CHECK(r.pending_datagrams() == 0);
        CHECK(r.bytes_used() == 0);
        CHECK(r.counters().dropped_budget == 1);
    }
    SECTION("a new datagram that does not fit is refused, the others stay") {
        const auto other = fragments(false, 3000, 2, 1500);
        CHECK(r.submit(other[0], 0).verdict == FragmentVerdict::kDroppedBudget);
        CHECK(r.pending_datagrams() == 1);
        CHECK(r.counters().dropped_budget == 1);
        // A small one fits.
        CHECK(r.submit(v4_fragment(9, 0, true, 8), 0).verdict == FragmentVerdict::kQueued);
        CHECK(r.pending_datagrams() == 2);
    }
    SECTION("memory comes back when datagrams complete") {
        ReassemblyConfig roomy;
        roomy.budget_bytes =
            3 * (1480 + Reassembler::kFragmentOverhead) + Reassembler::kDatagramOverhead;
        Reassembler s(roomy);
        for (uint32_t id = 1; id <= 5; ++id) {
            const auto frames = fragments(false, 3000, id, 1500);
            for (size_t i = 0; i + 1 < frames.size(); ++i)
                CHECK(s.submit(frames[i], 0).verdict == FragmentVerdict::kQueued);
            check_datagram(s.submit(frames.back(), 0), 3000, id);
            CHECK(s.bytes_used() == 0);
        }
    }
}
