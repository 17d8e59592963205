// UdpEncoder: round trips through the FrameParser (and the Reassembler for
// fragments), header fields, checksums over any iovec split, fragmentation
// geometry at common MTUs, DF policies and every refusal.
#include "udp/udp_encoder.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "packet/checksum.h"
#include "packet/frame_parser.h"
#include "udp/reassembler.h"
#include "udp_test_support.h"

using namespace xlane;
using namespace xlane::udp;
using namespace xlane::udp::test;
using packet::load_be16;
using packet::load_be32;

namespace {

constexpr size_t kL3 = packet::kEthHeaderLen;

packet::Bytes payload_of(const std::vector<uint8_t>& frame, const packet::ParsedFrame& p) {
    return packet::Bytes(frame).subspan(p.payload_offset, p.payload_length);
}

}  // namespace

TEST_CASE("IPv4 datagram round trip through the parser", "[udp][encoder]") {
    auto t = make_template(false);
    t.ttl = 9;
    t.tos = 0xb8;  // DSCP EF
    const auto encoder = make_encoder(t);
    CHECK_FALSE(encoder.is_ipv6());
    const auto data = pattern(100);
    uint32_t ip_id = 0x1234ffff;  // only the low 16 bits go on the wire
    auto frames = encode_frames(encoder, data, ip_id);
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 1);
    const auto& f = frames->front();
    CHECK(f.size() == 14 + 20 + 8 + 100);
    const auto p = packet::parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.is_ipv4());
    CHECK(p.protocol == packet::kProtoUdp);
    CHECK(p.ttl == 9);
    CHECK(p.src_addr == kIp4A);
    CHECK(p.dst_addr == kIp4B);
    CHECK(p.src_port == 40000);
    CHECK(p.dst_port == 5001);
    const auto got = payload_of(f, p);
    CHECK(std::equal(got.begin(), got.end(), data.begin(), data.end()));
    CHECK(std::memcmp(f.data(), kMacB.data(), 6) == 0);  // destination first
    CHECK(std::memcmp(f.data() + 6, kMacA.data(), 6) == 0);
    CHECK(f[kL3 + 1] == 0xb8);
    CHECK(load_be16(&f[kL3 + 4]) == 0xffff);
    CHECK(load_be16(&f[kL3 + 6]) == 0x4000);  // kWant: DF on a datagram that fits
    CHECK(ip_id == 0x12350000);               // one id taken
}

TEST_CASE("IPv6 datagram round trip through the parser", "[udp][encoder]") {
    auto t = make_template(true);
    t.ttl = 3;
    t.tos = 0x2e;
    t.flow_label = 0xabcde;
    const auto encoder = make_encoder(t);
    CHECK(encoder.is_ipv6());
    const auto data = pattern(1000, 7);
    uint32_t ip_id = 5;
    auto frames = encode_frames(encoder, data, ip_id);
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 1);
    const auto& f = frames->front();
    CHECK(f.size() == 14 + 40 + 8 + 1000);
    const auto p = packet::parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.ip_version == 6);
    CHECK(p.ttl == 3);
    CHECK(p.src_addr == kIp6A);
    CHECK(p.dst_addr == kIp6B);
    const auto got = payload_of(f, p);
    CHECK(std::equal(got.begin(), got.end(), data.begin(), data.end()));
    CHECK(load_be32(&f[kL3]) == ((6u << 28) | (0x2eu << 20) | 0xabcde));
    CHECK(ip_id == 5);  // unfragmented IPv6 has no identification to take
}

TEST_CASE("payload split over any iovecs gives the same frame", "[udp][encoder]") {
    for (bool ipv6 : {false, true}) {
        const auto encoder = make_encoder(make_template(ipv6, 1500, DfPolicy::kDont));
        for (size_t size : {size_t{0}, size_t{1}, size_t{2}, size_t{777}, size_t{5000}}) {
            CAPTURE(ipv6, size);
            const auto data = pattern(size, 3);
            uint32_t id_a = 77, id_b = 77;
            auto whole = encode_frames(encoder, data, id_a);
            REQUIRE(whole.ok());
            // Odd and empty pieces, one with a null base, ragged against fragments.
            std::vector<iovec> iov;
            iov.push_back({nullptr, 0});
            size_t pos = 0, step = 1;
            while (pos < size) {
                const size_t n = std::min(step, size - pos);
                iov.push_back({const_cast<uint8_t*>(data.data() + pos), n});
                iov.push_back({const_cast<uint8_t*>(data.data() + pos + n), 0});
                pos += n;
                step = step * 3 % 1001 + 1;
            }
            std::vector<std::vector<uint8_t>> buffers(whole->size(),
                                                      std::vector<uint8_t>(1514, 0xee));
            std::vector<FrameSlot> slots;
            for (auto& b : buffers) slots.push_back({b, 0});
            auto n = encoder.encode(iov, id_b, slots);
            REQUIRE(n.ok());
            REQUIRE(*n == whole->size());
            for (size_t i = 0; i < *n; ++i) {
                buffers[i].resize(slots[i].length);
                CHECK(buffers[i] == (*whole)[i]);
            }
        }
    }
}

TEST_CASE("a UDP checksum that computes to zero is sent as 0xffff", "[udp][encoder]") {
    for (bool ipv6 : {false, true}) {
        CAPTURE(ipv6);
        const auto encoder = make_encoder(make_template(ipv6));
        // With a two-byte payload of 0, the field is C; a payload word equal to
        // C adds exactly enough to make the sum 0xffff, hence a checksum of 0.
        std::vector<uint8_t> data = {0, 0};
        uint32_t id = 0;
        auto first = encode_frames(encoder, data, id);
        REQUIRE(first.ok());
        const size_t udp = (*first)[0].size() - 10;
        const uint16_t c = load_be16(&(*first)[0][udp + 6]);
        packet::store_be16(data.data(), c);
        auto frames = encode_frames(encoder, data, id);
        REQUIRE(frames.ok());
        CHECK(load_be16(&(*frames)[0][udp + 6]) == 0xffff);
        CHECK(packet::parse_frame((*frames)[0]).ok());
    }
}

TEST_CASE("DF policies", "[udp][encoder]") {
    const auto small = pattern(100);
    const auto large = pattern(3000);
    uint32_t id = 1;
    SECTION("kDont never sets DF") {
        const auto encoder = make_encoder(make_template(false, 1500, DfPolicy::kDont));
        auto frames = encode_frames(encoder, small, id);
        REQUIRE(frames.ok());
        CHECK(load_be16(&(*frames)[0][kL3 + 6]) == 0);
    }
    SECTION("kWant fragments what does not fit, with DF clear") {
        const auto encoder = make_encoder(make_template(false, 1500, DfPolicy::kWant));
        auto frames = encode_frames(encoder, large, id);
        REQUIRE(frames.ok());
        REQUIRE(frames->size() == 3);
        for (const auto& f : *frames) CHECK((load_be16(&f[kL3 + 6]) & 0x4000) == 0);
    }
    SECTION("kDo sets DF and refuses what does not fit, for both families") {
        for (bool ipv6 : {false, true}) {
            const auto encoder = make_encoder(make_template(ipv6, 1500, DfPolicy::kDo));
            auto frames = encode_frames(encoder, small, id);
            REQUIRE(frames.ok());
            if (!ipv6) CHECK(load_be16(&(*frames)[0][kL3 + 6]) == 0x4000);
            const size_t fits = ipv6 ? 1500 - 48 : 1500 - 28;
            CHECK(encoder.frames_needed(fits) == 1);
            CHECK(encoder.frames_needed(fits + 1) == 0);
            const uint32_t before = id;
            auto refused = encode_frames(encoder, pattern(fits + 1), id);
            REQUIRE_FALSE(refused.ok());
            CHECK(refused.error().errnum == EMSGSIZE);
            CHECK(id == before);
        }
    }
}

namespace {

// Frames expected at this MTU, computed from the rules rather than the encoder.
size_t expected_frames(bool ipv6, uint32_t mtu, size_t payload) {
    const size_t udp_len = 8 + payload;
    const size_t ip_header = ipv6 ? 40 : 20;
    if (ip_header + udp_len <= mtu) return 1;
    const size_t unit = (mtu - ip_header - (ipv6 ? 8 : 0)) / 8 * 8;
    return (udp_len + unit - 1) / unit;
}

}  // namespace

TEST_CASE("fragmentation at MTU 1500, 1280 and 576, reassembled", "[udp][encoder]") {
    for (bool ipv6 : {false, true}) {
        for (uint32_t mtu : {1500u, 1280u, 576u}) {
            if (ipv6 && mtu < kMinMtuV6) continue;
            const auto encoder = make_encoder(make_template(ipv6, mtu));
            const size_t max = ipv6 ? kMaxUdpPayloadV6 : kMaxUdpPayloadV4;
            for (size_t size : {size_t{0}, size_t{1}, size_t{1472}, size_t{1473}, size_t{8000},
                                size_t{65507}, max}) {
                CAPTURE(ipv6, mtu, size);
                const auto data = pattern(size, static_cast<uint32_t>(size + mtu));
                uint32_t id = 0xfffe;
                auto frames = encode_frames(encoder, data, id);
                REQUIRE(frames.ok());
                const size_t n = expected_frames(ipv6, mtu, size);
                REQUIRE(frames->size() == n);
                CHECK(encoder.frames_needed(size) == n);
                if (n == 1) {
                    const auto p = packet::parse_frame(frames->front());
                    REQUIRE(p.ok());
                    const auto got = payload_of(frames->front(), p);
                    CHECK(std::equal(got.begin(), got.end(), data.begin(), data.end()));
                    CHECK(id == (ipv6 ? 0xfffeu : 0xffffu));
                    continue;
                }
                CHECK(id == 0xffff);  // one id for the whole datagram
                size_t next_offset = 0;
                Reassembler reassembler;
                ReassemblyOutcome outcome;
                for (size_t i = 0; i < n; ++i) {
                    const auto& f = (*frames)[i];
                    CHECK(f.size() - 14 <= mtu);
                    const auto p = packet::parse_frame(f);
                    REQUIRE(p.error == packet::ParseError::kFragment);
                    auto read = read_fragment(f, p);
                    REQUIRE(read.fragment);
                    CHECK(read.fragment->id == 0xfffe);
                    CHECK(read.fragment->offset == next_offset);
                    CHECK(read.fragment->more == (i + 1 < n));
                    if (i + 1 < n) CHECK(read.fragment->data.size() % 8 == 0);
                    next_offset += read.fragment->data.size();
                    if (!ipv6) {
                        CHECK(packet::checksum_ok(packet::Bytes(f).subspan(kL3, 20)));
                        CHECK((load_be16(&f[kL3 + 6]) & 0x4000) == 0);  // DF clear
                    }
                    outcome = reassembler.submit(f, p, 0);
                    CHECK(outcome.verdict ==
                          (i + 1 < n ? FragmentVerdict::kQueued : FragmentVerdict::kReassembled));
                }
                CHECK(next_offset == 8 + size);
                const auto p = packet::parse_frame(outcome.frame);
                REQUIRE(p.ok());
                CHECK(p.src_port == 40000);
                const auto got = payload_of(outcome.frame, p);
                CHECK(std::equal(got.begin(), got.end(), data.begin(), data.end()));
            }
            // One byte past the largest payload: EMSGSIZE, as sendto() says.
            uint32_t id = 0;
            auto refused = encode_frames(encoder, pattern(max + 1), id);
            REQUIRE_FALSE(refused.ok());
            CHECK(refused.error().errnum == EMSGSIZE);
            CHECK(encoder.frames_needed(max + 1) == 0);
            CHECK(id == 0);
        }
    }
}

TEST_CASE("known fragment counts", "[udp][encoder]") {
    CHECK(make_encoder(make_template(false, 1500)).frames_needed(1472) == 1);
    CHECK(make_encoder(make_template(false, 1500)).frames_needed(1473) == 2);
    CHECK(make_encoder(make_template(false, 1500)).frames_needed(8000) == 6);
    CHECK(make_encoder(make_template(false, 1500)).frames_needed(65507) == 45);
    CHECK(make_encoder(make_template(false, 576)).frames_needed(65507) == 119);
    CHECK(make_encoder(make_template(true, 1500)).frames_needed(1452) == 1);
    CHECK(make_encoder(make_template(true, 1500)).frames_needed(1453) == 2);
    CHECK(make_encoder(make_template(true, 1280)).frames_needed(65527) == 54);
}

TEST_CASE("a reassembled datagram equals the unfragmented frame", "[udp][encoder]") {
    for (bool ipv6 : {false, true}) {
        CAPTURE(ipv6);
        const auto data = pattern(8000, 11);
        const auto jumbo = make_encoder(make_template(ipv6, 9000, DfPolicy::kDont));
        const auto small = make_encoder(make_template(ipv6, 1280, DfPolicy::kDont));
        uint32_t id_jumbo = 42, id_small = 42;
        auto whole = encode_frames(jumbo, data, id_jumbo);
        auto pieces = encode_frames(small, data, id_small);
        REQUIRE(whole.ok());
        REQUIRE(pieces.ok());
        REQUIRE(pieces->size() == 7);
        Reassembler reassembler;
        ReassemblyOutcome outcome;
        for (auto it = pieces->rbegin(); it != pieces->rend(); ++it)
            outcome = reassembler.submit(*it, 1);
        REQUIRE(outcome.verdict == FragmentVerdict::kReassembled);
        CHECK(outcome.frame == whole->front());
    }
}

TEST_CASE("encode refusals write nothing and take no id", "[udp][encoder]") {
    const auto encoder = make_encoder(make_template(false, 1500));
    const auto data = pattern(3000);
    const iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
    std::vector<uint8_t> a(1514, 0xaa), b(1514, 0xaa), tiny(100, 0xaa);
    uint32_t id = 9;
    SECTION("too few slots") {
        FrameSlot slots[] = {{a, 0}, {b, 0}};
        auto n = encoder.encode(std::span(&iov, 1), id, slots);
        REQUIRE_FALSE(n.ok());
        CHECK(n.error().errnum == ENOBUFS);
    }
    SECTION("a slot too short for its frame") {
        FrameSlot slots[] = {{a, 0}, {tiny, 0}, {b, 0}};
        auto n = encoder.encode(std::span(&iov, 1), id, slots);
        REQUIRE_FALSE(n.ok());
        CHECK(n.error().errnum == ENOBUFS);
    }
    CHECK(id == 9);
    CHECK(std::all_of(a.begin(), a.end(), [](uint8_t x) { return x == 0xaa; }));
    CHECK(std::all_of(tiny.begin(), tiny.end(), [](uint8_t x) { return x == 0xaa; }));
}

TEST_CASE("encoder templates that cannot work are refused", "[udp][encoder]") {
    auto mixed = make_template(false);
    mixed.dst_addr = kIp6B;
    CHECK(UdpEncoder::create(mixed).error().errnum == EINVAL);
    CHECK(UdpEncoder::create(make_template(true, 1279)).error().errnum == EINVAL);
    CHECK(UdpEncoder::create(make_template(false, 67)).error().errnum == EINVAL);
    CHECK(UdpEncoder::create(make_template(false, 68)).ok());
    auto label = make_template(true);
    label.flow_label = 0x100000;
    CHECK(UdpEncoder::create(label).error().errnum == EINVAL);
    // lo's 65536 acts as the largest IP packet: a maximal datagram in one frame.
    const auto lo = make_encoder(make_template(false, 65536));
    CHECK(lo.frames_needed(kMaxUdpPayloadV4) == 1);
    CHECK(lo.max_frame_length() == 14 + 65535);
}
