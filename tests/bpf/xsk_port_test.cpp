// XskPort end to end on the loopback of a private network namespace:
// xlane_steer attached in generic (SKB) mode redirects a bound port into the
// port's RX ring, other ports still reach kernel sockets, and a frame sent on
// the TX ring arrives at a kernel socket and completes. Addresses: 198.18.0.1
// on the private lo only (198.18.0.2 as the source of TX-ring frames).
#include "afxdp/xsk_port.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>

#include "common/unique_fd.h"
#include "packet/frame_builder.h"
#include "packet/frame_parser.h"
#include "private_netns.h"
#include "steer_harness.h"

using namespace xlane;
using namespace xlane::test;

namespace {

constexpr uint16_t kSteeredPort = 7000;  // bound in xlane_binds: goes to the XSK
constexpr uint16_t kKernelPort = 7001;   // not steered: the kernel socket gets it
constexpr uint16_t kXskSourcePort = 7002;
const packet::Ipv4Addr kLocal = {198, 18, 0, 1};
// Source of frames sent on the TX ring: a remote peer. A local source would be
// dropped as a martian (fib_validate_source refuses local saddr on input
// unless accept_local is set).
const packet::Ipv4Addr kPeer = {198, 18, 0, 2};

// Adds 198.18.0.1/32 to lo as a labelled secondary address (lo:xl).
void add_test_address() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(sock.valid());
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo:xl", IFNAMSIZ - 1);
    auto* addr = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
    addr->sin_family = AF_INET;
    std::memcpy(&addr->sin_addr, kLocal.data(), 4);
    INFO("SIOCSIFADDR lo:xl: " << std::strerror(errno));
    REQUIRE(::ioctl(sock.get(), SIOCSIFADDR, &ifr) == 0);
}

sockaddr_in local_endpoint(uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, kLocal.data(), 4);
    return sa;
}

UniqueFd udp_socket_bound_to(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    const sockaddr_in sa = local_endpoint(port);
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0);
    return fd;
}

void send_udp(uint16_t port, const std::string& text) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    const sockaddr_in sa = local_endpoint(port);
    REQUIRE(::sendto(fd.get(), text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&sa),
                     sizeof(sa)) == static_cast<ssize_t>(text.size()));
}

// Reads one datagram, waiting at most 2 s.
std::string receive_udp(int fd) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 2000) != 1) return "<timeout>";
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    return n < 0 ? "<error>" : std::string(buf, static_cast<size_t>(n));
}

// Detaches the generic-mode program on scope exit (the namespace's lo dies
// with the namespace anyway; this keeps the order explicit).
struct GenericXdpAttachment {
    int ifindex;
    ~GenericXdpAttachment() { (void)bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, nullptr); }
};

}  // namespace

TEST_CASE("XskPort receives steered frames and transmits to kernel sockets", "[afxdp]") {
    auto harness = SteerHarness::load();
    if (!harness) FAIL(harness.error().describe());
    SteeringModel steering;
    steering.binds.push_back(bind_key(packet::ipv4_mapped(kLocal), kSteeredPort, IPPROTO_UDP));
    REQUIRE(harness->install(steering).ok());

    auto netns = PrivateNetns::enter();
    if (!netns) FAIL(netns.error().describe());
    const int lo = static_cast<int>((*netns)->loopback_ifindex());
    add_test_address();

    afxdp::XskPortConfig config;
    config.ifindex = static_cast<uint32_t>(lo);
    config.queue = 0;
    config.mode = afxdp::XskMode::kCopy;
    auto port = afxdp::XskPort::open(config);
    if (!port) FAIL(port.error().describe());
    auto& xsk = **port;
    CHECK(xsk.fd() >= 0);
    // open() filled the fill ring: every frame is the kernel's or free.
    CHECK(xsk.umem().free_frames() < config.umem.frame_count);
    REQUIRE(harness->set_xsk(0, xsk.fd()).ok());

    INFO("attach xlane_steer to the private lo in SKB mode");
    REQUIRE(bpf_xdp_attach(lo, harness->program_fd(), XDP_FLAGS_SKB_MODE, nullptr) == 0);
    GenericXdpAttachment attachment{lo};

    UniqueFd kernel_socket = udp_socket_bound_to(kKernelPort);
    UniqueFd steered_shadow = udp_socket_bound_to(kSteeredPort);

    SECTION("a datagram to the steered port lands in the RX ring, not the kernel socket") {
        send_udp(kSteeredPort, "to the xsk");
        auto readable = xsk.wait_readable(2000);
        REQUIRE(readable.ok());
        REQUIRE(*readable);
        afxdp::RxFrame frames[8];
        const size_t got = xsk.receive(frames);
        REQUIRE(got == 1);
        // Loopback frames carry partial checksums (CHECKSUM_PARTIAL), so only
        // the structure is checked here.
        const auto parsed = packet::parse_frame(frames[0].data, {.verify_checksums = false});
        REQUIRE(parsed.ok());
        CHECK(parsed.dst_port == kSteeredPort);
        CHECK(parsed.dst_addr == packet::ipv4_mapped(kLocal));
        CHECK(std::string(reinterpret_cast<const char*>(&frames[0].data[parsed.payload_offset]),
                          parsed.payload_length) == "to the xsk");
        xsk.recycle(frames[0].addr);
        // The kernel socket bound to the same port got nothing.
        pollfd pfd{steered_shadow.get(), POLLIN, 0};
        CHECK(::poll(&pfd, 1, 100) == 0);
    }

    SECTION("a frame larger than a UMEM frame arrives whole, joined from its descriptors") {
        // lo's MTU (65536) keeps a 10,000-byte datagram in one frame, which
        // the kernel splits over three 4 KB UMEM frames (XDP_USE_SG).
        REQUIRE(xsk.multi_buffer());
        std::string text(10000, '\0');
        for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 23);
        const size_t free_before = xsk.umem().free_frames();
        send_udp(kSteeredPort, text);
        auto readable = xsk.wait_readable(2000);
        REQUIRE(readable.ok());
        REQUIRE(readable.value());
        // Room for one frame only: the chain is still taken whole.
        afxdp::RxFrame frames[1];
        REQUIRE(xsk.receive(frames) == 1);
        CHECK(frames[0].addr == afxdp::kJoinedFrame);
        CHECK(xsk.joined_frames() == 1);
        const auto parsed = packet::parse_frame(frames[0].data, {.verify_checksums = false});
        REQUIRE(parsed.ok());
        CHECK(parsed.dst_port == kSteeredPort);
        REQUIRE(parsed.payload_length == text.size());
        CHECK(std::memcmp(&frames[0].data[parsed.payload_offset], text.data(), text.size()) == 0);
        xsk.recycle(frames[0].addr);
        // Its three UMEM frames were freed and went back to the fill ring:
        // as many frames are free as before, none leaked.
        CHECK(xsk.umem().free_frames() == free_before);
        afxdp::RxFrame none[4];
        CHECK(xsk.receive(none) == 0);
    }

    SECTION("other ports fall back to the kernel") {
        send_udp(kKernelPort, "to the kernel");
        CHECK(receive_udp(kernel_socket.get()) == "to the kernel");
        afxdp::RxFrame frames[8];
        CHECK(xsk.receive(frames) == 0);
    }

    SECTION("a frame on the TX ring reaches a kernel socket and completes") {
        const std::string text = "from the xsk";
        const auto frame =
            packet::FrameBuilder()
                .eth({}, {})  // lo's address is all zeros
                .ipv4(kPeer, kLocal)
                .udp(kXskSourcePort, kKernelPort)
                .payload({reinterpret_cast<const uint8_t*>(text.data()), text.size()})
                .build();
        const std::span<const uint8_t> one[] = {frame};
        REQUIRE(xsk.send(one) == 1);
        CHECK(receive_udp(kernel_socket.get()) == text);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (xsk.tx_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
            (void)xsk.complete();
            if (xsk.tx_in_flight() > 0) ::poll(nullptr, 0, 1);
        }
        CHECK(xsk.tx_in_flight() == 0);
    }

    SECTION("closing the port empties its xlane_xsks slot: steered traffic returns to the kernel") {
        port->reset();
        send_udp(kSteeredPort, "back to the kernel");
        CHECK(receive_udp(steered_shadow.get()) == "back to the kernel");
    }
}

TEST_CASE("XskPort refuses what the kernel cannot do, with a usable message", "[afxdp]") {
    afxdp::XskPortConfig config;
    config.ifindex = 999999;  // no such interface
    auto missing = afxdp::XskPort::open(config);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().describe().find("999999") != std::string::npos);

    afxdp::UmemConfig bad;
    bad.frame_size = 3000;  // not a power of two
    auto umem = afxdp::Umem::create(bad);
    REQUIRE_FALSE(umem.ok());
    CHECK(umem.error().errnum == EINVAL);

    auto netns = PrivateNetns::enter();
    if (!netns) FAIL(netns.error().describe());
    config.ifindex = (*netns)->loopback_ifindex();
    config.queue = 5;  // lo has one queue
    auto no_queue = afxdp::XskPort::open(config);
    CHECK_FALSE(no_queue.ok());
    config.queue = 0;
    config.mode = afxdp::XskMode::kZeroCopy;  // lo has no zero-copy driver support
    auto zero_copy = afxdp::XskPort::open(config);
    REQUIRE_FALSE(zero_copy.ok());
    CHECK(zero_copy.error().describe().find("zero-copy") != std::string::npos);
}

TEST_CASE("Umem hands out each frame once and takes any address inside it back", "[afxdp]") {
    afxdp::UmemConfig config;
    config.frame_count = 8;
    auto umem = afxdp::Umem::create(config);
    if (!umem) FAIL(umem.error().describe());
    std::vector<uint64_t> frames;
    while (auto addr = (*umem)->alloc_frame()) frames.push_back(*addr);
    REQUIRE(frames.size() == 8);
    std::sort(frames.begin(), frames.end());
    CHECK(std::adjacent_find(frames.begin(), frames.end()) == frames.end());
    for (uint64_t addr : frames) CHECK(addr % config.frame_size == 0);
    (*umem)->free_frame(frames[3] + 100);  // an RX address with an offset
    auto again = (*umem)->alloc_frame();
    REQUIRE(again.has_value());
    CHECK(*again == frames[3]);
}
