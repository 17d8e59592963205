// UdpEngine end to end against the Linux kernel's UDP in a peer namespace:
// sizes from 1 byte to 65507 both ways over IPv4 and IPv6 (bound, connected,
// dual-stack), the kernel socket bypassed while the engine owns a flow,
// SO_RCVBUF drops, fill-ring and TX-ring exhaustion (back-pressure and
// counters, no accepted datagram lost), deferred TX wake-ups, the eventfd
// readiness invariant, exclusive interface ownership, and the return of
// flows to the kernel after the engine is destroyed or SIGKILLed.
// udp_engine.sh builds the hosts (lib.sh), attaches xlane on B and runs the
// "[hosts]" cases here inside B; the visible case runs udp_engine.sh
// itself, so ctest needs no wrapper.
#include "engine/udp_engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "engine/socket_address.h"
#include "steering/steering_table.h"
#include "engine_test_hosts.h"
#include "xdp/netdev.h"

namespace {

using namespace xlane;
using namespace std::chrono_literals;
using engine::SocketId;
using engine::UdpEngine;
using engine::UdpEngineConfig;
using namespace xlane::test;

constexpr int kWaitMs = 3000;

std::vector<uint8_t> pattern(size_t size, unsigned seed) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 131 + seed * 7 + 1);
    return bytes;
}

bool readable_within(int fd, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    return ::poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN) != 0;
}

// A kernel UDP socket of the peer namespace A (sockets keep the namespace
// they were created in), bound to `addr`:`port`.
UniqueFd peer_socket(const char* addr, uint16_t port) {
    const Endpoint local = endpoint(addr, port);
    const int family = local.addr.is_v4() ? AF_INET : AF_INET6;
    UniqueFd fd;
    {
        auto inside = NetnsSwitch::enter(peer_netns());
        REQUIRE(inside.ok());
        fd.reset(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    REQUIRE(fd.valid());
    const int big = 4 << 20;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    auto sa = engine::to_socket_address(family, local);
    REQUIRE(sa.ok());
    REQUIRE(::bind(fd.get(), sa->get(), sa->length) == 0);
    return fd;
}

// An engine on B's interface, its config adjusted by `tune` first.
template <typename Tune>
std::unique_ptr<UdpEngine> engine_with(Tune&& tune) {
    UdpEngineConfig config;
    config.interfaces = {iface()};
    tune(config);
    auto made = UdpEngine::create(config);
    INFO((made ? "" : made.error().describe()));
    REQUIRE(made.ok());
    return std::move(made).value();
}

// A kernel UDP socket here in B.
UniqueFd local_kernel_socket(const char* addr, uint16_t port) {
    const Endpoint local = endpoint(addr, port);
    const int family = local.addr.is_v4() ? AF_INET : AF_INET6;
    UniqueFd fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    auto sa = engine::to_socket_address(family, local);
    REQUIRE(sa.ok());
    REQUIRE(::bind(fd.get(), sa->get(), sa->length) == 0);
    return fd;
}

void peer_send(int fd, const std::vector<uint8_t>& payload, const Endpoint& to) {
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0);
    auto sa = engine::to_socket_address(storage.ss_family, to);
    REQUIRE(sa.ok());
    REQUIRE(::sendto(fd, payload.data(), payload.size(), 0, sa->get(), sa->length) ==
            static_cast<ssize_t>(payload.size()));
}

struct KernelDatagram {
    std::vector<uint8_t> payload;
    Endpoint source;
};

// The next datagram on a kernel socket, waiting at most kWaitMs.
KernelDatagram kernel_receive(int fd) {
    REQUIRE(readable_within(fd, kWaitMs));
    KernelDatagram out;
    out.payload.resize(70000);
    sockaddr_storage from{};
    socklen_t from_length = sizeof(from);
    const ssize_t got = ::recvfrom(fd, out.payload.data(), out.payload.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
    REQUIRE(got >= 0);
    out.payload.resize(static_cast<size_t>(got));
    auto source = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_length);
    REQUIRE(source.ok());
    out.source = source.value();
    return out;
}

struct EngineDatagram {
    std::vector<uint8_t> payload;
    udp::ReceivedDatagram info;
};

// The next datagram of an engine socket, waiting on its eventfd at most kWaitMs.
EngineDatagram engine_receive(UdpEngine& e, SocketId id) {
    auto event = e.event_fd(id);
    REQUIRE(event.ok());
    REQUIRE(readable_within(event.value(), kWaitMs));
    EngineDatagram out;
    out.payload.resize(70000);
    const iovec iov{out.payload.data(), out.payload.size()};
    auto got = e.receive(id, std::span(&iov, 1));
    INFO((got ? "" : got.error().describe()));
    REQUIRE(got.ok());
    out.info = got.value();
    out.payload.resize(got->copied);
    return out;
}

Result<size_t> engine_send(UdpEngine& e, SocketId id, const std::vector<uint8_t>& payload,
                           std::optional<Endpoint> to = std::nullopt) {
    const iovec iov{const_cast<uint8_t*>(payload.data()), payload.size()};
    return e.send(id, std::span(&iov, 1), to);
}

// The kernel's count of UDP datagrams delivered to sockets in this namespace.
uint64_t kernel_udp_in_datagrams() {
    uint64_t total = 0;
    std::ifstream snmp("/proc/net/snmp");
    std::string header, values;
    while (std::getline(snmp, header)) {
        if (header.rfind("Udp: ", 0) != 0 || !std::getline(snmp, values)) continue;
        std::istringstream names(header), numbers(values);
        std::string name, number;
        while (names >> name && numbers >> number)
            if (name == "InDatagrams") total += std::stoull(number);
        break;
    }
    std::ifstream snmp6("/proc/net/snmp6");
    std::string name;
    uint64_t value = 0;
    while (snmp6 >> name >> value)
        if (name == "Udp6InDatagrams") total += value;
    return total;
}

template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return done();
}

bool steered_by(const std::vector<BindEntry>& binds, uint16_t port, uint32_t pid) {
    for (const auto& b : binds)
        if (b.key.local.port == port && b.owner.owner_pid == pid) return true;
    return false;
}

bool same_addr(const packet::Ipv6Addr& addr, const char* text) {
    return engine::from_packet_addr(addr) == endpoint(text, 0).addr;
}

SteeringTable steering() {
    auto table = SteeringTable::open_interface(iface());
    REQUIRE(table.ok());
    return std::move(table).value();
}

// Copies, so that range-for never walks a destroyed temporary.
std::vector<BindEntry> binds_now() {
    auto binds = steering().binds();
    REQUIRE(binds.ok());
    return std::move(binds).value();
}
std::vector<FlowEntry> flows_now() {
    auto flows = steering().flows();
    REQUIRE(flows.ok());
    return std::move(flows).value();
}

// Largest payload the peer sends unfragmented on a 1500-byte link.
size_t unfragmented_limit(bool ipv6) {
    return ipv6 ? 1452 : 1472;
}

}  // namespace

TEST_CASE("UDP engine against a kernel peer (runs udp_engine.sh, which builds the hosts)") {
    if (!iface().empty()) return;  // already inside the hosts: the [hosts] cases do the work
    char self[4096] = {};
    REQUIRE(::readlink("/proc/self/exe", self, sizeof(self) - 1) > 0);
    const std::string command = std::string("timeout 280 bash '") + XLANE_UDP_ENGINE_SCRIPT +
                                "' '" + self + "' '" + XLANE_TOOL_BINARY + "'";
    const int status = std::system(command.c_str());
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("bound sockets carry 1..65507-byte datagrams both ways, IPv4 and IPv6", "[.hosts]") {
    auto e = make_engine();
    for (const bool ipv6 : {false, true}) {
        const uint16_t port = ipv6 ? 41002 : 41001;
        const char* addr_a = ipv6 ? kAddr6A : kAddrA;
        const char* addr_b = ipv6 ? kAddr6B : kAddrB;
        auto id = e->open(ipv6 ? AF_INET6 : AF_INET);
        REQUIRE(id.ok());
        auto bound = e->bind(id.value(), endpoint(addr_b, port));
        INFO((bound ? "" : bound.error().describe()));
        REQUIRE(bound.ok());
        REQUIRE(steered_by(binds_now(), port, ::getpid()));
        UniqueFd peer = peer_socket(addr_a, 42001);

        unsigned seed = 0;
        size_t small = 0;
        for (const size_t size : {size_t{1}, size_t{1472}, size_t{8000}, size_t{65507}}) {
            INFO("ipv6=" << ipv6 << " size=" << size);
            // Peer -> engine. A datagram that fits one frame must bypass the
            // kernel of B entirely; fragments are the kernel's (xlane_steer
            // passes them) and reach the engine through its kernel socket.
            const auto in = pattern(size, ++seed);
            const uint64_t kernel_before = kernel_udp_in_datagrams();
            peer_send(peer.get(), in, endpoint(addr_b, port));
            const EngineDatagram got = engine_receive(*e, id.value());
            CHECK(got.info.length == size);
            CHECK(got.payload == in);
            CHECK(same_addr(got.info.meta.src_addr, addr_a));
            CHECK(got.info.meta.src_port == 42001);
            if (size <= unfragmented_limit(ipv6)) {
                ++small;
                CHECK(kernel_udp_in_datagrams() == kernel_before);
            } else {
                // ... and the counter is live: the kernel did count this one.
                CHECK(kernel_udp_in_datagrams() > kernel_before);
            }

            // Engine -> peer: the peer's kernel verifies every checksum.
            const auto out = pattern(size, ++seed);
            auto sent = engine_send(*e, id.value(), out, endpoint(addr_a, 42001));
            INFO((sent ? "" : sent.error().describe()));
            REQUIRE(sent.ok());
            CHECK(sent.value() == size);
            const KernelDatagram back = kernel_receive(peer.get());
            CHECK(back.payload == out);
            CHECK(back.source.to_string() == endpoint(addr_b, port).to_string());
        }
        auto stats = e->socket_stats(id.value());
        REQUIRE(stats.ok());
        CHECK(stats->rx_datagrams == small);
        CHECK(stats->rx_kernel_datagrams == 4 - small);
        CHECK(stats->tx_datagrams == 4);
        CHECK(stats->tx_kernel_datagrams == 0);
        REQUIRE(e->close(id.value()).ok());
        CHECK_FALSE(steered_by(binds_now(), port, ::getpid()));
    }
    const auto ports = e->port_stats();
    REQUIRE(ports.size() == 1);
    CHECK(ports[0].second.queues == 2);  // udp_engine.sh gives the veth two RX queues
    CHECK(ports[0].second.rx_dropped_bad_checksum == 0);
    CHECK(ports[0].second.rx_dropped_malformed == 0);
    CHECK(ports[0].second.tx_frames > ports[0].second.tx_datagrams);  // fragments went out
}

TEST_CASE("connected sockets exchange with their peer only", "[.hosts]") {
    auto e = make_engine();
    for (const bool ipv6 : {false, true}) {
        const char* addr_a = ipv6 ? kAddr6A : kAddrA;
        const char* addr_b = ipv6 ? kAddr6B : kAddrB;
        UniqueFd peer = peer_socket(addr_a, 42011);
        UniqueFd stranger = peer_socket(addr_a, 42012);
        auto id = e->open(ipv6 ? AF_INET6 : AF_INET);
        REQUIRE(id.ok());
        auto local = e->connect(id.value(), endpoint(addr_a, 42011));
        INFO((local ? "" : local.error().describe()));
        REQUIRE(local.ok());
        CHECK(local->addr == endpoint(addr_b, 0).addr);  // the kernel chose the source
        REQUIRE(local->port != 0);

        bool flow_entered = false;
        for (const auto& f : flows_now())
            flow_entered |= f.key.local.port == local->port && f.key.remote.port == 42011 &&
                            f.owner.owner_pid == static_cast<uint32_t>(::getpid());
        CHECK(flow_entered);
        CHECK_FALSE(steered_by(binds_now(), local->port, ::getpid()));

        for (const size_t size : {size_t{1}, size_t{1200}}) {
            const auto out = pattern(size, 3);
            auto sent = engine_send(*e, id.value(), out);  // no destination: the peer
            REQUIRE(sent.ok());
            const KernelDatagram back = kernel_receive(peer.get());
            CHECK(back.payload == out);
            CHECK(back.source.to_string() == local->to_string());

            const auto in = pattern(size, 4);
            peer_send(peer.get(), in, *local);
            const EngineDatagram got = engine_receive(*e, id.value());
            CHECK(got.payload == in);
        }
        // Another source port: not the connected peer, so neither steered
        // nor delivered (the kernel drops it at the connected kernel socket).
        peer_send(stranger.get(), pattern(10, 5), *local);
        std::this_thread::sleep_for(300ms);
        CHECK(e->queued(id.value()).value() == 0);
        REQUIRE(e->close(id.value()).ok());
    }
}

TEST_CASE("a dual-stack :: socket enters both wildcards, a v6only one only ::", "[.hosts]") {
    auto e = make_engine();
    auto dual = e->open(AF_INET6);
    REQUIRE(dual.ok());
    REQUIRE(e->bind(dual.value(), Endpoint{IpAddress::any_v6(), 41021}).ok());
    auto v6only = e->open(AF_INET6);
    REQUIRE(v6only.ok());
    REQUIRE(e->set_v6only(v6only.value(), true).ok());
    REQUIRE(e->bind(v6only.value(), Endpoint{IpAddress::any_v6(), 41022}).ok());

    std::vector<std::string> keys;
    for (const auto& b : binds_now())
        if (b.owner.owner_pid == static_cast<uint32_t>(::getpid()))
            keys.push_back(b.key.local.to_string());
    std::sort(keys.begin(), keys.end());
    CHECK(keys == std::vector<std::string>{"0.0.0.0:41021", "[::]:41021", "[::]:41022"});

    UniqueFd peer4 = peer_socket(kAddrA, 42021);
    UniqueFd peer6 = peer_socket(kAddr6A, 42022);
    peer_send(peer4.get(), pattern(100, 1), endpoint(kAddrB, 41021));
    EngineDatagram got = engine_receive(*e, dual.value());
    CHECK(got.payload == pattern(100, 1));
    CHECK(same_addr(got.info.meta.src_addr, kAddrA));  // IPv4-mapped, as recvfrom shows it
    peer_send(peer6.get(), pattern(100, 2), endpoint(kAddr6B, 41021));
    got = engine_receive(*e, dual.value());
    CHECK(got.payload == pattern(100, 2));
    CHECK(same_addr(got.info.meta.src_addr, kAddr6A));
    // Replies to IPv4 from the dual-stack socket go out as IPv4.
    REQUIRE(engine_send(*e, dual.value(), pattern(50, 3), endpoint(kAddrA, 42021)).ok());
    CHECK(kernel_receive(peer4.get()).payload == pattern(50, 3));

    peer_send(peer6.get(), pattern(60, 4), endpoint(kAddr6B, 41022));
    CHECK(engine_receive(*e, v6only.value()).payload == pattern(60, 4));
}

TEST_CASE("a full receive queue drops datagrams and counts them (SO_RCVBUF)", "[.hosts]") {
    auto e = make_engine();
    auto id = e->open(AF_INET);
    REQUIRE(id.ok());
    auto budget = e->set_rcvbuf(id.value(), 4096);
    REQUIRE(budget.ok());
    CHECK(budget.value() == 8192);
    REQUIRE(e->bind(id.value(), endpoint(kAddrB, 41031)).ok());
    UniqueFd peer = peer_socket(kAddrA, 42031);
    constexpr int kSent = 40;
    for (int i = 0; i < kSent; ++i)
        peer_send(peer.get(), pattern(1000, i), endpoint(kAddrB, 41031));

    engine::SocketStats stats;
    REQUIRE(eventually([&] {
        stats = e->socket_stats(id.value()).value();
        return stats.rx_datagrams + stats.rx_dropped_queue_full == kSent;
    }));
    CHECK(stats.rx_dropped_queue_full > 0);
    CHECK(stats.rx_datagrams < 12);  // 8192 bytes hold a handful of 1000-byte datagrams
    CHECK(e->port_stats()[0].second.rx_dropped_queue_full == stats.rx_dropped_queue_full);
    // What was queued is the first datagrams, intact.
    for (uint64_t i = 0; i < stats.rx_datagrams; ++i)
        CHECK(engine_receive(*e, id.value()).payload == pattern(1000, static_cast<int>(i)));
    CHECK(e->queued(id.value()).value() == 0);
}

TEST_CASE("the eventfd is readable exactly while the queue is non-empty", "[.hosts]") {
    auto e = make_engine();
    auto id = e->open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(e->bind(id.value(), endpoint(kAddrB, 41041)).ok());
    const int event = e->event_fd(id.value()).value();
    CHECK_FALSE(readable_within(event, 0));
    UniqueFd peer = peer_socket(kAddrA, 42041);
    for (int i = 0; i < 3; ++i) peer_send(peer.get(), pattern(20 + i, i), endpoint(kAddrB, 41041));
    REQUIRE(eventually([&] { return e->queued(id.value()).value() == 3; }));
    CHECK(readable_within(event, 0));

    std::vector<uint8_t> buffer(100);
    const iovec iov{buffer.data(), buffer.size()};
    auto peeked = e->receive(id.value(), std::span(&iov, 1), engine::ReceiveFlags{.peek = true});
    REQUIRE(peeked.ok());
    CHECK(peeked->length == 20);
    CHECK(readable_within(event, 0));
    CHECK(e->queued(id.value()).value() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(readable_within(event, 0));
        auto got = e->receive(id.value(), std::span(&iov, 1));
        REQUIRE(got.ok());
        CHECK(got->length == static_cast<size_t>(20 + i));
    }
    CHECK_FALSE(readable_within(event, 0));
    auto empty = e->receive(id.value(), std::span(&iov, 1));
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().errnum == EAGAIN);
    CHECK_FALSE(readable_within(event, 0));
    // Truncation: the rest of a longer datagram is discarded, the eventfd follows.
    peer_send(peer.get(), pattern(300, 9), endpoint(kAddrB, 41041));
    REQUIRE(readable_within(event, kWaitMs));
    auto truncated = e->receive(id.value(), std::span(&iov, 1));
    REQUIRE(truncated.ok());
    CHECK(truncated->truncated());
    CHECK(truncated->length == 300);
    CHECK_FALSE(readable_within(event, 0));
}

namespace {

// This thread's read()/write() system calls so far (/proc/thread-self/io);
// an eventfd read or write counts, a socket's recvfrom/sendto does not.
std::pair<long, long> thread_rw_syscalls() {
    std::ifstream io("/proc/thread-self/io");
    std::string key;
    long value = 0, reads = -1, writes = -1;
    while (io >> key >> value) {
        if (key == "syscr:") reads = value;
        if (key == "syscw:") writes = value;
    }
    return {reads, writes};
}

}  // namespace

// A receive that finds its datagrams on the rings takes them in itself: the
// eventfd is not signalled for a datagram that this receive then returns
// (no write, no read), and is signalled when one stays queued.
TEST_CASE("a receive that takes its datagram off the rings leaves the eventfd alone", "[.hosts]") {
    auto engine = engine_with([](UdpEngineConfig& c) {
        c.progress_thread = false;  // only the receive takes frames in
    });
    auto& e = *engine;
    auto id = e.open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(e.bind(id.value(), endpoint(kAddrB, 41042)).ok());
    const int event = e.event_fd(id.value()).value();
    UniqueFd peer = peer_socket(kAddrA, 42042);
    std::vector<uint8_t> buffer(100);
    const iovec iov{buffer.data(), buffer.size()};
    // What reading the counters costs by itself (the reads of the first look).
    const auto idle_before = thread_rw_syscalls();
    const auto idle_after = thread_rw_syscalls();
    const long own_reads = idle_after.first - idle_before.first;
    REQUIRE(idle_before.first >= 0);
    auto receive_when_there = [&] {
        for (int i = 0; i < 2000; ++i) {
            const auto before = thread_rw_syscalls();
            auto got = e.receive(id.value(), std::span(&iov, 1));
            const auto after = thread_rw_syscalls();
            if (got.ok())
                return std::make_tuple(got->length, after.first - before.first - own_reads,
                                       after.second - before.second);
            std::this_thread::sleep_for(1ms);
        }
        return std::make_tuple(size_t{0}, -1L, -1L);
    };
    // One datagram: taken and returned by the same receive.
    peer_send(peer.get(), pattern(30, 1), endpoint(kAddrB, 41042));
    auto [length, reads, writes] = receive_when_there();
    CHECK(length == 30);
    CHECK(reads == 0);
    CHECK(writes == 0);
    CHECK_FALSE(readable_within(event, 0));
    // Two in one go: the second stays queued, and the eventfd says so.
    peer_send(peer.get(), pattern(40, 2), endpoint(kAddrB, 41042));
    peer_send(peer.get(), pattern(50, 3), endpoint(kAddrB, 41042));
    std::this_thread::sleep_for(100ms);  // both on the RX ring
    auto first = e.receive(id.value(), std::span(&iov, 1));
    REQUIRE(first.ok());
    CHECK(first->length == 40);
    CHECK(readable_within(event, 0));
    auto second = e.receive(id.value(), std::span(&iov, 1));
    REQUIRE(second.ok());
    CHECK(second->length == 50);
    CHECK_FALSE(readable_within(event, 0));
    REQUIRE(e.close(id.value()).ok());
}

TEST_CASE("one engine per interface: a second one is refused with the owner's pid", "[.hosts]") {
    auto first = make_engine();
    UdpEngineConfig config;
    config.interfaces = {iface()};
    auto second = UdpEngine::create(config);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().errnum == EBUSY);
    CHECK_THAT(second.error().describe(),
               Catch::Contains("owned by pid " + std::to_string(::getpid())));
}

TEST_CASE("after the engine is destroyed its flows reach the kernel again", "[.hosts]") {
    UniqueFd peer = peer_socket(kAddrA, 42051);
    {
        auto e = make_engine();
        auto id = e->open(AF_INET);
        REQUIRE(id.ok());
        REQUIRE(e->bind(id.value(), endpoint(kAddrB, 41051)).ok());
        peer_send(peer.get(), pattern(30, 1), endpoint(kAddrB, 41051));
        CHECK(engine_receive(*e, id.value()).payload == pattern(30, 1));
    }
    CHECK_FALSE(steered_by(binds_now(), 41051, ::getpid()));
    UniqueFd kernel = local_kernel_socket(kAddrB, 41051);
    peer_send(peer.get(), pattern(30, 2), endpoint(kAddrB, 41051));
    CHECK(kernel_receive(kernel.get()).payload == pattern(30, 2));
}

TEST_CASE("after SIGKILL the flows reach the kernel; the next engine removes the stale entries",
          "[.hosts]") {
    // The child runs an engine (no thread of ours exists yet: fork is safe).
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(ready[0]);
        UdpEngineConfig config;
        config.interfaces = {iface()};
        auto e = UdpEngine::create(config);
        if (!e) ::_exit(2);
        auto bound = (*e)->open(AF_INET);
        auto connected = (*e)->open(AF_INET);
        if (!bound || !connected || !(*e)->bind(bound.value(), endpoint(kAddrB, 41061)) ||
            !(*e)->connect(connected.value(), endpoint(kAddrA, 42062)))
            ::_exit(3);
        (void)!::write(ready[1], "r", 1);
        for (;;) ::pause();
    }
    ::close(ready[1]);
    UniqueFd ready_read(ready[0]);
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            if (pid <= 0) return;  // never kill(-1) or kill(0)
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    } reaper{child};
    REQUIRE(readable_within(ready_read.get(), 10000));
    char byte = 0;
    REQUIRE(::read(ready_read.get(), &byte, 1) == 1);

    // While the child lives it owns the interface.
    UdpEngineConfig config;
    config.interfaces = {iface()};
    auto refused = UdpEngine::create(config);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().describe(),
               Catch::Contains("owned by pid " + std::to_string(child)));
    REQUIRE(steered_by(binds_now(), 41061, static_cast<uint32_t>(child)));

    REQUIRE(::kill(child, SIGKILL) == 0);
    REQUIRE(::waitpid(child, nullptr, 0) == child);
    reaper.pid = 0;  // reaped

    // Its entries stay (nobody removed them) but its AF_XDP socket is gone:
    // xlane_steer passes the flow to the kernel.
    CHECK(steered_by(binds_now(), 41061, static_cast<uint32_t>(child)));
    UniqueFd kernel = local_kernel_socket(kAddrB, 41061);
    UniqueFd peer = peer_socket(kAddrA, 42061);
    peer_send(peer.get(), pattern(40, 1), endpoint(kAddrB, 41061));
    CHECK(kernel_receive(kernel.get()).payload == pattern(40, 1));
    kernel.reset();

    auto e = make_engine();
    CHECK(e->stale_removed().binds >= 1);
    CHECK(e->stale_removed().flows >= 1);
    CHECK_FALSE(steered_by(binds_now(), 41061, static_cast<uint32_t>(child)));
    for (const auto& f : flows_now()) CHECK(f.owner.owner_pid != static_cast<uint32_t>(child));
}

TEST_CASE("routes the engine does not serve go through the kernel socket", "[.hosts]") {
    auto e = make_engine();
    // B's own address is a local route: the kernel carries it.
    UniqueFd kernel = local_kernel_socket(kAddrB, 41071);
    auto id = e->open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(engine_send(*e, id.value(), pattern(77, 1), endpoint(kAddrB, 41071)).ok());
    const KernelDatagram got = kernel_receive(kernel.get());
    CHECK(got.payload == pattern(77, 1));
    auto stats = e->socket_stats(id.value());
    REQUIRE(stats.ok());
    CHECK(stats->tx_kernel_datagrams == 1);
    CHECK(stats->tx_datagrams == 0);
}

// A receiver that polls (ReceiveFlags::polling_again) makes no system call
// of its own: the progress thread moves what the kernel socket gets, and
// leaves the rings to the poller while its lease runs. Without a progress
// thread the receive drains the kernel socket itself.
TEST_CASE("a polling receiver gets the datagrams that reach its kernel socket", "[.hosts]") {
    for (const bool with_progress_thread : {true, false}) {
        INFO("progress thread: " << with_progress_thread);
        auto engine = engine_with([&](UdpEngineConfig& c) {
            c.progress_thread = with_progress_thread;
        });
        auto& e = *engine;
        auto id = e.open(AF_INET);
        REQUIRE(id.ok());
        REQUIRE(e.bind(id.value(), endpoint(kAddrB, 41075)).ok());
        UniqueFd local = local_kernel_socket(kAddrB, 41076);
        std::vector<uint8_t> buffer(200);
        const iovec iov{buffer.data(), buffer.size()};
        engine::ReceiveFlags polling;
        polling.polling_again = true;
        for (int i = 0; i < 3; ++i) {
            auto empty = e.receive(id.value(), std::span(&iov, 1), polling);
            REQUIRE_FALSE(empty.ok());
            CHECK(empty.error().errnum == EAGAIN);
        }
        // The empty polls renewed the poller's lease on the rings (only with a
        // progress thread to leave them); a sleep ends it at once.
        CHECK(e.rx_left_to_takers() == with_progress_thread);
        e.rx_polling_stopped();
        CHECK_FALSE(e.rx_left_to_takers());
        // A spin that ends with data leaves the rings to its thread for a
        // lease (it comes back for the next message); one that ends in a
        // sleep hands them back at once.
        // (The lease's end, not rx_left_to_takers(): a 200 us lease may be
        // over by the time a preempted test looks.)
        const uint64_t before_spin = engine::RxTakers::now_ns();
        e.rx_spin_begin();
        e.rx_spin_end(false);
        CHECK((e.poller_lease_until_ns() > before_spin) == with_progress_thread);
        e.rx_spin_begin();
        e.rx_spin_end(true);
        CHECK(e.poller_lease_until_ns() == 0);
        CHECK_FALSE(e.rx_left_to_takers());
        // B's own address: the kernel carries it, into the engine's kernel socket.
        peer_send(local.get(), pattern(64, 7), endpoint(kAddrB, 41075));
        const bool received = eventually([&] {
            auto got = e.receive(id.value(), std::span(&iov, 1), polling);
            return got.ok() && got->length == 64;
        });
        CHECK(received);
        CHECK(std::vector<uint8_t>(buffer.begin(), buffer.begin() + 64) == pattern(64, 7));
        auto stats = e.socket_stats(id.value());
        REQUIRE(stats.ok());
        CHECK(stats->rx_kernel_datagrams == 1);
        REQUIRE(e.close(id.value()).ok());
    }
}

TEST_CASE("an unresolvable neighbour costs a bounded wait and a counted drop", "[.hosts]") {
    auto engine = engine_with([](UdpEngineConfig& c) {
        c.neighbour_wait = 300ms;
    });
    auto& e = *engine;
    auto id = e.open(AF_INET);
    REQUIRE(id.ok());
    // 198.18.0.3 is on B's link but no host answers ARP for it.
    const auto start = std::chrono::steady_clock::now();
    auto sent = engine_send(e, id.value(), pattern(10, 1), endpoint("198.18.0.3", 9));
    const auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE(sent.ok());  // as the kernel's UDP: success, datagram lost
    CHECK(waited < 3s);
    auto stats = e.socket_stats(id.value());
    REQUIRE(stats.ok());
    CHECK(stats->tx_dropped == 1);
    CHECK(stats->tx_datagrams == 0);
}

TEST_CASE("an adopted kernel socket stays the caller's after close", "[.hosts]") {
    auto e = make_engine();
    UniqueFd own(::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    REQUIRE(own.valid());
    auto id = e->adopt(own.get());
    REQUIRE(id.ok());
    CHECK(e->kernel_fd(id.value()).value() == own.get());
    auto bound = e->bind(id.value(), endpoint(kAddr6B, 41081));
    REQUIRE(bound.ok());
    UniqueFd peer = peer_socket(kAddr6A, 42081);
    peer_send(peer.get(), pattern(64, 1), endpoint(kAddr6B, 41081));
    CHECK(engine_receive(*e, id.value()).payload == pattern(64, 1));
    REQUIRE(e->close(id.value()).ok());
    CHECK(::fcntl(own.get(), F_GETFD) >= 0);  // still open
    // An already bound socket cannot be adopted (its port is not ours to steer).
    auto again = e->adopt(own.get());
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().errnum == EINVAL);
}

TEST_CASE("disconnect, release, next_length, and the kernel socket's pending error", "[.hosts]") {
    auto e = make_engine();
    UniqueFd peer = peer_socket(kAddrA, 42091);
    auto opened = e->open(AF_INET);
    REQUIRE(opened.ok());
    const SocketId id = opened.value();
    REQUIRE(e->bind(id, endpoint(kAddrB, 41091)).ok());
    REQUIRE(e->connect(id, endpoint(kAddrA, 42091)).ok());

    // FIONREAD's answer: 0 when empty, else the first datagram's length.
    CHECK(e->next_length(id).value() == 0);
    peer_send(peer.get(), pattern(300, 1), endpoint(kAddrB, 41091));
    peer_send(peer.get(), pattern(20, 2), endpoint(kAddrB, 41091));
    REQUIRE(eventually([&] { return e->queued(id).value() == 2; }));
    CHECK(e->next_length(id).value() == 300);

    // connect(AF_UNSPEC): the explicitly bound port stays, and its bind is
    // steered again, so another peer reaches the socket.
    auto local = e->disconnect(id);
    INFO((local ? "" : local.error().describe()));
    REQUIRE(local.ok());
    REQUIRE(local.value().has_value());
    CHECK(local.value()->port == 41091);
    UniqueFd other = peer_socket(kAddrA, 42092);
    peer_send(other.get(), pattern(40, 3), endpoint(kAddrB, 41091));
    REQUIRE(eventually([&] { return e->queued(id).value() == 3; }));

    // release(): steering gone, the queue kept and served; what comes later
    // stays in the kernel socket.
    REQUIRE(e->release(id).ok());
    peer_send(other.get(), pattern(50, 4), endpoint(kAddrB, 41091));
    const int kernel = e->kernel_fd(id).value();
    REQUIRE(readable_within(kernel, kWaitMs));
    std::this_thread::sleep_for(300ms);  // the progress thread had its chances
    CHECK(e->queued(id).value() == 3);
    std::vector<uint8_t> buffer(100);
    const iovec iov{buffer.data(), buffer.size()};
    for (size_t size : {300u, 20u, 40u}) {
        auto got = e->receive(id, std::span(&iov, 1));
        REQUIRE(got.ok());
        CHECK(got->length == size);
    }
    auto empty = e->receive(id, std::span(&iov, 1));
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().errnum == EAGAIN);
    CHECK(kernel_receive(kernel).payload == pattern(50, 4));
    REQUIRE(e->close(id).ok());

    // A connected socket to a port nobody serves: the ICMP error that the
    // kernel socket reports is kept for the next receive, which the eventfd
    // announces, and is given out once.
    auto refused = e->open(AF_INET);
    REQUIRE(refused.ok());
    REQUIRE(e->connect(refused.value(), endpoint(kAddrA, 42093)).ok());
    REQUIRE(engine_send(*e, refused.value(), pattern(8, 5)).ok());
    REQUIRE(readable_within(e->event_fd(refused.value()).value(), kWaitMs));
    auto error = e->receive(refused.value(), std::span(&iov, 1));
    REQUIRE_FALSE(error.ok());
    CHECK(error.error().errnum == ECONNREFUSED);
    auto after = e->receive(refused.value(), std::span(&iov, 1));
    REQUIRE_FALSE(after.ok());
    CHECK(after.error().errnum == EAGAIN);
    CHECK_FALSE(readable_within(e->event_fd(refused.value()).value(), 0));
    REQUIRE(e->close(refused.value()).ok());
}

namespace {

void set_link(const std::string& name, bool up) {
    // Static IPv6 addresses would go with the link (the later cases need them).
    std::ofstream("/proc/sys/net/ipv6/conf/" + name + "/keep_addr_on_down") << 1;
    const std::string command = "ip link set dev " + name + (up ? " up" : " down");
    REQUIRE(std::system(command.c_str()) == 0);
}

// The carrier as `ip` sees it in this namespace (/sys still shows the
// namespace the test was started in).
bool carrier_up(const std::string& name) {
    const std::string command = "ip link show dev " + name + " | grep -q LOWER_UP";
    return std::system(command.c_str()) == 0;
}

// Sequence-numbered payloads, so that the peer can tell which arrived.
std::vector<uint8_t> numbered(uint32_t n, size_t size = 64) {
    std::vector<uint8_t> payload = pattern(size, n);
    std::memcpy(payload.data(), &n, sizeof(n));
    return payload;
}

uint32_t number_of(const std::vector<uint8_t>& payload) {
    uint32_t n = 0;
    REQUIRE(payload.size() >= sizeof(n));
    std::memcpy(&n, payload.data(), sizeof(n));
    return n;
}

xdp_statistics xsk_statistics(int fd) {
    xdp_statistics stats{};
    socklen_t length = sizeof(stats);
    REQUIRE(::getsockopt(fd, SOL_XDP, XDP_STATISTICS, &stats, &length) == 0);
    return stats;
}

}  // namespace

// Copy mode on veth transmits as soon as it is woken, so a TX ring only
// stays full while the device refuses frames: the interface is taken down
// (the engine, without a progress thread, keeps the route and neighbour it
// learned) and the kernel leaves the queued descriptors on the ring.
TEST_CASE("a full TX ring gives EAGAIN or ENOBUFS, counted, and loses no accepted datagram",
          "[.hosts]") {
    constexpr uint32_t kTxRing = 64;
    auto engine = engine_with([](UdpEngineConfig& c) {
        c.progress_thread = false;
        c.tx_ring_wait = 200ms;
        c.xsk.tx_size = kTxRing;
        c.xsk.umem.frame_count = 256;
    });
    auto& e = *engine;
    auto id = e.open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(e.bind(id.value(), endpoint(kAddrB, 41041)).ok());
    UniqueFd peer = peer_socket(kAddrA, 42041);
    const Endpoint to = endpoint(kAddrA, 42041);

    uint32_t accepted = 0;
    REQUIRE(engine_send(e, id.value(), numbered(accepted), to).ok());  // route and MAC learned
    ++accepted;
    CHECK(number_of(kernel_receive(peer.get()).payload) == 0);

    set_link(iface(), false);
    struct LinkBackUp {
        ~LinkBackUp() {
            const std::string command = "ip link set dev " + iface() + " up";
            (void)std::system(command.c_str());
        }
    } restore;
    engine::SendFlags nonblocking;
    nonblocking.nonblocking = true;
    int again = 0;
    for (int i = 0; i < 200 && again == 0; ++i) {
        const std::vector<uint8_t> payload = numbered(accepted);
        const iovec iov{const_cast<uint8_t*>(payload.data()), payload.size()};
        auto sent = e.send(id.value(), std::span(&iov, 1), to, nonblocking);
        if (sent.ok()) {
            CHECK(sent.value() == payload.size());
            ++accepted;
        } else {
            CHECK(sent.error().errnum == EAGAIN);
            again = sent.error().errnum;
        }
    }
    REQUIRE(again == EAGAIN);
    // Exactly a ring's worth waits (the first datagram left before).
    CHECK(accepted == 1 + kTxRing);
    auto port = e.port_stats()[0].second;
    CHECK(port.tx_ring_full_eagain == 1);
    CHECK(port.tx_ring_full_enobufs == 0);

    // A blocking send waits tx_ring_wait, then ENOBUFS.
    const auto start = std::chrono::steady_clock::now();
    auto blocked = engine_send(e, id.value(), numbered(9999), to);
    const auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(blocked.ok());
    CHECK(blocked.error().errnum == ENOBUFS);
    CHECK(waited >= 200ms);
    CHECK(waited < 3s);
    port = e.port_stats()[0].second;
    CHECK(port.tx_ring_full_enobufs == 1);
    CHECK(port.tx_ring_full_waits > 0);
    CHECK(port.tx_datagrams == accepted);

    // Back up: the next look at the rings hands every waiting frame over.
    set_link(iface(), true);
    REQUIRE(eventually([] { return carrier_up(iface()); }));
    (void)e.poll_rx();
    for (uint32_t n = 1; n < accepted; ++n)
        CHECK(number_of(kernel_receive(peer.get()).payload) == n);
    CHECK_FALSE(readable_within(peer.get(), 200));  // nothing else (not the refused one)
}

// The receive side's two budgets: the fill ring (frames the kernel may
// write into) and the socket's SO_RCVBUF. Neither engine nor kernel may
// lose a datagram without counting it.
TEST_CASE("an exhausted fill ring drops datagrams and the kernel counts them", "[.hosts]") {
    auto engine = engine_with([](UdpEngineConfig& c) {
        c.progress_thread = false;    // nobody takes frames off the RX ring meanwhile
        c.xsk.umem.frame_count = 64;  // at most 32 in the fill ring
    });
    auto& e = *engine;
    auto id = e.open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(e.bind(id.value(), endpoint(kAddrB, 41042)).ok());
    UniqueFd peer = peer_socket(kAddrA, 42042);
    constexpr uint64_t kSent = 200;
    for (uint32_t n = 0; n < kSent; ++n)
        peer_send(peer.get(), numbered(n, 100), endpoint(kAddrB, 41042));

    auto dropped_by_kernel = [&] {
        uint64_t total = 0;
        for (int fd : e.rx_descriptors()) {
            const xdp_statistics s = xsk_statistics(fd);
            total += s.rx_dropped + s.rx_ring_full;
        }
        return total;
    };
    uint64_t arrived = 0;
    REQUIRE(eventually([&] {
        (void)e.poll_rx();
        arrived = e.socket_stats(id.value()).value().rx_datagrams;
        return arrived + dropped_by_kernel() == kSent;
    }));
    CHECK(arrived > 0);
    CHECK(arrived <= 32);
    CHECK(dropped_by_kernel() >= kSent - 32);
    // What arrived is the first datagrams, in order.
    for (uint32_t n = 0; n < arrived; ++n)
        CHECK(number_of(engine_receive(e, id.value()).payload) == n);
}

// Back-to-back sends leave TX wake-ups for a batch; the last ones of a
// burst must still go without any further call: the progress thread is
// asked for a round (its tick is far beyond the test's waits here).
TEST_CASE("a burst of deferred sends arrives whole with no further call", "[.hosts]") {
    auto e = engine_with([](UdpEngineConfig& c) {
        c.progress_tick = std::chrono::minutes(10);
        // Every send counts as back to back, however slow this build is (TSan):
        // otherwise a slow sender never defers and the case proves nothing.
        c.xsk.tx_defer_window_ns = 100'000'000;
    });
    auto id = e->open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(e->bind(id.value(), endpoint(kAddrB, 41043)).ok());
    UniqueFd peer = peer_socket(kAddrA, 42043);
    const int room = 16 << 20;  // the whole burst waits there (root: past rmem_max)
    REQUIRE(::setsockopt(peer.get(), SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof(room)) == 0);
    const Endpoint to = endpoint(kAddrA, 42043);
    constexpr uint32_t kBurst = 2001;  // not a multiple of the wake-up batch
    for (uint32_t n = 0; n < kBurst; ++n)
        REQUIRE(engine_send(*e, id.value(), numbered(n), to).ok());
    for (uint32_t n = 0; n < kBurst; ++n)
        REQUIRE(number_of(kernel_receive(peer.get()).payload) == n);
    CHECK(e->port_stats()[0].second.tx_datagrams == kBurst);
    CHECK(e->port_stats()[0].second.tx_deferred > 0);
}
