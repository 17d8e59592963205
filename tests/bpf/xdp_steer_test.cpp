// xlane_steer through BPF_PROG_TEST_RUN: every row of the frame table gives
// the expected verdict and moves exactly its reason counter (packets and
// bytes), without an XSK (PASS_NO_XSK) and with a real AF_XDP socket on the
// loopback of a private network namespace (XDP_REDIRECT); truncation at every
// length; a seeded mutation smoke against the C++ oracle.
#include <linux/bpf.h>
#include <linux/if_ether.h>

#include <catch2/catch.hpp>
#include <random>
#include <sstream>

#include "afxdp/xsk_port.h"
#include "packet/frame_parser.h"
#include "private_netns.h"
#include "steer_cases.h"
#include "steer_harness.h"

using namespace xlane;
using namespace xlane::test;

namespace {

const char* reason_name(uint32_t reason) {
    static const char* const names[] = {"REDIRECT_FLOW", "REDIRECT_BIND",    "PASS_NO_XSK",
                                        "PASS_NO_MATCH", "PASS_NOT_IP",      "PASS_NOT_L4",
                                        "PASS_FRAGMENT", "PASS_IPV6_EXTHDR", "PASS_MALFORMED"};
    return reason < XLANE_REASON_COUNT ? names[reason] : "?";
}

std::string describe(const ReasonCounters& delta) {
    std::ostringstream out;
    for (uint32_t r = 0; r < XLANE_REASON_COUNT; ++r)
        if (delta[r].packets || delta[r].bytes)
            out << reason_name(r) << "+" << delta[r].packets << "/" << delta[r].bytes << "B ";
    return out.str().empty() ? "no counter moved" : out.str();
}

// Exactly `reason` moved, by one packet of `bytes` bytes; nothing else moved.
bool only_reason_moved(const ReasonCounters& delta, uint32_t reason, size_t bytes) {
    for (uint32_t r = 0; r < XLANE_REASON_COUNT; ++r) {
        const bool expected = r == reason;
        if (delta[r].packets != (expected ? 1u : 0u)) return false;
        if (delta[r].bytes != (expected ? bytes : 0u)) return false;
    }
    return true;
}

SteerHarness load_harness() {
    auto harness = SteerHarness::load();
    if (!harness) FAIL("cannot load xdp_steer: " << harness.error().describe());
    auto installed = harness->install(steering_tables());
    if (!installed) FAIL(installed.error().describe());
    return std::move(harness).value();
}

// Kernel 6.18 refuses BPF_PROG_TEST_RUN for XDP frames shorter than an
// Ethernet header (EINVAL), even behind XDP metadata; older kernels accepted
// them behind metadata. The only refusal tolerated is that one, and it must
// leave every counter untouched. Such frames cannot reach XDP on a real
// Ethernet device either.
bool kernel_refused_short_frame(SteerHarness& harness, packet::Bytes frame,
                                const Result<RunOutcome>& outcome, const ReasonCounters& before) {
    if (outcome.ok()) return false;
    if (frame.size() >= ETH_HLEN || outcome.error().errnum != EINVAL) return false;
    auto after = harness.read_stats();
    REQUIRE(after.ok());
    for (uint32_t r = 0; r < XLANE_REASON_COUNT; ++r) {
        CHECK((*after)[r].packets == before[r].packets);
        CHECK((*after)[r].bytes == before[r].bytes);
    }
    return true;
}

void expect_row(SteerHarness& harness, const SteerCase& row, uint32_t reason,
                RunContext context = {}) {
    INFO("frame: " << row.name << " (" << row.frame.size() << " bytes), expected "
                   << reason_name(reason));
    auto before = harness.read_stats();
    REQUIRE(before.ok());
    auto outcome = harness.run(row.frame, context);
    if (kernel_refused_short_frame(harness, row.frame, outcome, *before)) {
        CHECK(reason == XLANE_REASON_PASS_MALFORMED);
        return;
    }
    if (!outcome) FAIL(outcome.error().describe());
    const uint32_t action = xlane_reason_is_redirect(reason) ? XDP_REDIRECT : XDP_PASS;
    CHECK(outcome->action == action);
    INFO("counters moved: " << describe(outcome->delta));
    CHECK(only_reason_moved(outcome->delta, reason, row.frame.size()));
}

// With no XSK on the queue, a hit falls back to the kernel.
uint32_t without_xsk(xlane_xdp_reason reason) {
    return xlane_reason_is_redirect(reason) ? XLANE_REASON_PASS_NO_XSK : reason;
}

// The loopback of a private namespace with an AF_XDP socket (copy mode) on
// queue 0 sitting in xlane_xsks[0].
struct XskOnLoopback {
    std::unique_ptr<PrivateNetns> netns;
    std::unique_ptr<afxdp::XskPort> port;
    RunContext context;
};

XskOnLoopback open_xsk_on_loopback(SteerHarness& harness) {
    XskOnLoopback x;
    auto netns = PrivateNetns::enter();
    if (!netns) FAIL(netns.error().describe());
    x.netns = std::move(netns).value();
    afxdp::XskPortConfig config;
    config.ifindex = x.netns->loopback_ifindex();
    config.queue = 0;
    config.mode = afxdp::XskMode::kCopy;
    config.umem.frame_count = 64;
    config.rx_size = config.tx_size = 64;
    config.umem.fill_size = config.umem.completion_size = 64;
    auto port = afxdp::XskPort::open(config);
    if (!port) FAIL(port.error().describe());
    x.port = std::move(port).value();
    auto set = harness.set_xsk(0, x.port->fd());
    if (!set) FAIL(set.error().describe());
    x.context = RunContext{x.netns->loopback_ifindex(), 0};
    return x;
}

}  // namespace

TEST_CASE("the C++ oracle agrees with every row of the table", "[xdp_steer]") {
    const auto model = steering_tables();
    for (const auto& row : steer_cases()) {
        INFO(row.name);
        CHECK(reason_name(model.expected_reason(row.frame, true)) ==
              std::string(reason_name(row.reason)));
    }
}

TEST_CASE("table without an XSK: hits fall back with PASS_NO_XSK", "[xdp_steer]") {
    auto harness = load_harness();
    for (const auto& row : steer_cases()) expect_row(harness, row, without_xsk(row.reason));
}

TEST_CASE("table with an XSK on lo queue 0 of a private netns: hits redirect", "[xdp_steer]") {
    auto harness = load_harness();
    auto xsk = open_xsk_on_loopback(harness);
    for (const auto& row : steer_cases()) expect_row(harness, row, row.reason, xsk.context);

    SECTION("an empty slot (owner left) passes hits to the kernel") {
        REQUIRE(harness.clear_xsk(0).ok());
        for (const auto& row : hit_cases())
            expect_row(harness, row, XLANE_REASON_PASS_NO_XSK, xsk.context);
    }
    SECTION("closing the XSK removes it from the map: hits pass") {
        xsk.port.reset();
        for (const auto& row : hit_cases())
            expect_row(harness, row, XLANE_REASON_PASS_NO_XSK, xsk.context);
    }
}

TEST_CASE("every truncation of a hit frame is malformed", "[xdp_steer]") {
    auto harness = load_harness();
    auto xsk = open_xsk_on_loopback(harness);
    for (const auto& row : hit_cases()) {
        const auto parsed = packet::parse_frame(row.frame, {.verify_checksums = false});
        REQUIRE(parsed.ok());
        // Cut anywhere before the end of the datagram: inside the headers, or
        // inside the payload (the IP length then overruns the frame). Cuts
        // inside Ethernet padding leave a whole datagram: still a hit.
        const size_t datagram_end = parsed.payload_offset + parsed.payload_length;
        for (size_t len = 0; len < row.frame.size(); ++len) {
            const auto reason = len < datagram_end ? XLANE_REASON_PASS_MALFORMED : row.reason;
            SteerCase cut{row.name + " cut to " + std::to_string(len),
                          std::vector<uint8_t>(row.frame.begin(), row.frame.begin() + len), reason};
            expect_row(harness, cut, reason, xsk.context);
        }
    }
}

TEST_CASE("mutation smoke: 20000 seeded frames agree with the oracle", "[xdp_steer]") {
    auto harness = load_harness();
    auto xsk = open_xsk_on_loopback(harness);
    const auto model = steering_tables();
    const auto seeds = steer_cases();
    std::mt19937 rng(0x71a2e);  // fixed: a failure reproduces
    constexpr int kRuns = 20000;

    auto before = harness.read_stats();
    REQUIRE(before.ok());
    uint64_t total_bytes = 0, redirects = 0, mismatches = 0, refused = 0;
    for (int run = 0; run < kRuns; ++run) {
        std::vector<uint8_t> frame = seeds[rng() % seeds.size()].frame;
        const unsigned kind = rng() % 6;
        if (kind == 0 && !frame.empty()) {  // flip bits in the headers
            for (unsigned n = 1 + rng() % 3; n > 0; --n)
                frame[rng() % std::min<size_t>(frame.size(), 80)] ^= 1u << (rng() % 8);
        } else if (kind == 1 && !frame.empty()) {  // overwrite a header byte
            frame[rng() % std::min<size_t>(frame.size(), 80)] = static_cast<uint8_t>(rng());
        } else if (kind == 2) {  // truncate
            frame.resize(rng() % (frame.size() + 1));
        } else if (kind == 3) {  // trailing garbage (like padding)
            for (unsigned n = rng() % 64; n > 0; --n) frame.push_back(static_cast<uint8_t>(rng()));
        } else if (kind == 4) {  // random bytes after a valid Ethernet/VLAN prefix
            const size_t keep = std::min<size_t>(frame.size(), 14 + 4 * (rng() % 3));
            frame.resize(keep);
            for (unsigned n = rng() % 100; n > 0; --n) frame.push_back(static_cast<uint8_t>(rng()));
        }  // kind 5: unmodified seed

        const xlane_xdp_reason expected = model.expected_reason(frame, true);
        auto stats = harness.read_stats();
        REQUIRE(stats.ok());
        auto outcome = harness.run(frame, xsk.context);
        if (kernel_refused_short_frame(harness, frame, outcome, *stats)) {
            ++refused;
            REQUIRE(expected == XLANE_REASON_PASS_MALFORMED);
            continue;
        }
        if (!outcome) FAIL("run " << run << ": " << outcome.error().describe());
        total_bytes += frame.size();
        uint32_t moved = XLANE_REASON_COUNT;
        for (uint32_t r = 0; r < XLANE_REASON_COUNT; ++r)
            if (outcome->delta[r].packets) moved = r;
        const bool redirected = outcome->action == XDP_REDIRECT;
        redirects += redirected;
        // Never redirect what the parser does not accept or the tables do not hold.
        if (redirected) {
            const auto parsed = packet::parse_frame(frame, {.verify_checksums = false});
            INFO("run " << run);
            REQUIRE(parsed.ok());
            REQUIRE(xlane_reason_is_redirect(expected));
        }
        if (moved != expected || !only_reason_moved(outcome->delta, expected, frame.size()) ||
            redirected != static_cast<bool>(xlane_reason_is_redirect(expected))) {
            ++mismatches;
            UNSCOPED_INFO("run " << run << ": oracle " << reason_name(expected) << ", program "
                                 << describe(outcome->delta) << " action " << outcome->action);
        }
    }
    CHECK(mismatches == 0);
    CHECK(redirects > 0);  // the smoke did exercise the redirect path

    auto after = harness.read_stats();
    REQUIRE(after.ok());
    uint64_t packets = 0, bytes = 0;
    for (uint32_t r = 0; r < XLANE_REASON_COUNT; ++r) {
        packets += (*after)[r].packets - (*before)[r].packets;
        bytes += (*after)[r].bytes - (*before)[r].bytes;
    }
    CHECK(packets == static_cast<uint64_t>(kRuns) - refused);
    CHECK(bytes == total_bytes);
}
