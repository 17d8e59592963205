// Hostile and random input: garbage bytes into the codec, blind segments
// (random sequence/ack/flags/options, the RFC 5961 attacker) into a
// connection in the middle of a transfer, and run-to-run determinism.
#include <catch2/catch.hpp>
#include <random>

#include "tcp_sim.h"

namespace xlane::tcp::test {
namespace {

using namespace std::chrono_literals;
const packet::Ipv6Addr kA = packet::ipv4_mapped({198, 18, 0, 1});
const packet::Ipv6Addr kB = packet::ipv4_mapped({198, 18, 0, 2});

Segment random_segment(std::mt19937_64& rng, const FourTuple& target,
                       std::vector<uint8_t>& payload_store) {
    Segment s;
    s.header.src_port = target.remote.port;
    s.header.dst_port = target.local.port;
    s.header.seq = static_cast<uint32_t>(rng());
    s.header.ack = static_cast<uint32_t>(rng());
    const uint8_t candidates[] = {flags::kAck,
                                  flags::kAck | flags::kPsh,
                                  flags::kRst,
                                  flags::kSyn,
                                  flags::kFin | flags::kAck,
                                  flags::kRst | flags::kAck,
                                  flags::kSyn | flags::kAck,
                                  0};
    s.header.flags = candidates[rng() % std::size(candidates)];
    s.header.window = static_cast<uint16_t>(rng());
    if (rng() % 2)
        s.options.timestamps =
            Timestamps{static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng())};
    if (rng() % 4 == 0) {
        s.options.sack_count = static_cast<uint8_t>(1 + rng() % 3);
        for (size_t i = 0; i < s.options.sack_count; ++i)
            s.options.sack[i] = {static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng())};
    }
    payload_store.assign(rng() % 64, static_cast<uint8_t>(rng()));
    s.payload = payload_store;
    return s;
}

}  // namespace

TEST_CASE("the codec survives random bytes", "[tcp][robustness]") {
    std::mt19937_64 rng(2024);
    std::vector<uint8_t> bytes;
    size_t accepted = 0;
    for (int i = 0; i < 200000; ++i) {
        bytes.resize(rng() % 80);
        for (auto& b : bytes) b = static_cast<uint8_t>(rng());
        // Make the data offset plausible half the time so options get parsed.
        if (bytes.size() >= 20 && rng() % 2)
            bytes[12] = static_cast<uint8_t>((5 + rng() % ((bytes.size() - 20) / 4 + 1)) << 4);
        const DecodedSegment d = decode_segment(bytes, kA, kB, false);
        if (!d.ok()) continue;
        ++accepted;
        // Whatever decodes re-encodes to something that decodes the same way.
        std::vector<uint8_t> again(
            encoded_segment_size(d.segment.options, d.segment.payload.size()));
        if (encode_segment(d.segment.header, d.segment.options, d.segment.payload, kA, kB, again) ==
            0)
            continue;  // e.g. 4 SACK blocks + timestamps do not fit: refused, not overrun
        const DecodedSegment e = decode_segment(again, kA, kB, true);
        REQUIRE(e.ok());
        CHECK(e.segment.header.seq == d.segment.header.seq);
        CHECK(e.segment.options.sack_count == d.segment.options.sack_count);
        CHECK(e.segment.payload.size() == d.segment.payload.size());
    }
    CHECK(accepted > 1000);
}

TEST_CASE("blind segments from an off-path attacker do not disturb a transfer",
          "[tcp][robustness]") {
    SimNetwork net(FaultRates{}, FaultRates{}, 5);
    TcpConfig config;
    config.time_wait = 1s;
    TcpListener& listener = net.listen(net.b(), 80, config);
    auto client = net.connect(net.a(), 40000, net.b(), 80, config);
    std::shared_ptr<TcpConnection> server;
    REQUIRE(net.run_until(
        [&] {
            if (!server) server = listener.accept();
            return server && client->state() == TcpState::kEstablished;
        },
        10s));
    StreamPump up;
    up.sender = client;
    up.receiver = server;
    up.total = 4 << 20;
    std::mt19937_64 rng(77);
    std::vector<uint8_t> store;
    size_t injected = 0;
    // On a clock, not per event: every injection provokes an ACK, which is an
    // event, so injecting per event would feed on itself.
    Instant next_injection = net.now();
    REQUIRE(net.run_until(
        [&] {
            for (; next_injection <= net.now(); next_injection += 50us, ++injected)
                server->on_segment(random_segment(rng, server->tuple(), store), net.now());
            return up.pump(net.now());
        },
        600s));
    CHECK(injected > 1000);
    CHECK(up.received == up.total);
    CHECK(up.received_hash.value == up.sent_hash.value);
    CHECK(server->error() == 0);
    CHECK(server->readable_bytes() == 0);
}

TEST_CASE("random segments in every state never break the buffer bounds", "[tcp][robustness]") {
    std::mt19937_64 rng(99);
    std::vector<uint8_t> store;
    for (int round = 0; round < 200; ++round) {
        TcpConfig config;
        config.receive_buffer = 4096;
        const FourTuple tuple{{kA, 40000}, {kB, 80}};
        Instant now{1s};
        auto conn = TcpConnection::connect(config, tuple, now);
        for (int i = 0; i < 500 && conn->state() != TcpState::kClosed; ++i) {
            Segment s = random_segment(rng, tuple, store);
            conn->on_segment(s, now);
            while (conn->pop_output()) {
            }
            if (rng() % 8 == 0) conn->send(std::vector<uint8_t>(rng() % 3000, 1), now);
            if (rng() % 50 == 0) conn->shutdown(false, true, now);
            now += std::chrono::milliseconds(rng() % 300);
            if (conn->next_deadline() <= now) conn->on_timer(now);
            REQUIRE(conn->readable_bytes() + conn->out_of_order_bytes() <= 4096 + 1);
        }
    }
}

TEST_CASE("the same seed gives the same run", "[tcp][robustness]") {
    auto run = [] {
        FaultRates rates;
        rates.drop = 0.03;
        rates.reorder = 0.03;
        rates.duplicate = 0.01;
        SimNetwork net(rates, rates, 11);
        TcpConfig config;
        config.iss_secret = 5;
        TcpListener& listener = net.listen(net.b(), 80, config);
        auto client = net.connect(net.a(), 40000, net.b(), 80, config);
        std::shared_ptr<TcpConnection> server;
        StreamPump up;
        up.sender = client;
        up.total = 1 << 20;
        net.run_until(
            [&] {
                if (!server && (server = listener.accept())) up.receiver = server;
                return server && up.pump(net.now());
            },
            600s);
        return std::tuple{net.now(), net.frames_sent(), up.received_hash.value};
    };
    CHECK(run() == run());
}

}  // namespace xlane::tcp::test
