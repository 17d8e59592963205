// TcpEngine (the UDP engine's TCP side) end to end over AF_XDP against the
// Linux kernel's TCP in a peer namespace: the engine as client and as
// server, IPv4 and IPv6, 1 byte to 3 MB each way compared byte for byte,
// FIN after queued data on close, passive and active close, RST ->
// ECONNREFUSED, and readiness (poll mask, eventfd); then 100 MB each way on
// one connection (streams checked as they arrive), 1,000 connections open at
// once and echoed, half-close in both directions, a zero window (EAGAIN,
// persist probes, drain), resets in ESTABLISHED / FIN-WAIT-2 / CLOSE-WAIT
// with Linux's errno sequences, socket options (SO_RCVBUF bounding the
// window the kernel fills, TCP_CONGESTION, a listener's options inherited,
// TCP_USER_TIMEOUT), and keepalive (answered probes, then ETIMEDOUT once
// the peer's address is gone: last, it touches the peer).
// tcp_engine.sh builds the hosts, attaches xlane on B and runs the "[hosts]"
// cases inside B; then, with XLANE_TCP_FAULTS set, the transfer cases
// ("client*,server*") at 1%, 2% and 5% loss (XL_ENGINE_TRANSFER_MAX trims
// the sizes of the last).
#include "engine/tcp_engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.h"
#include "engine/socket_address.h"
#include "engine/udp_engine.h"
#include "engine_test_hosts.h"
#include "tcp/tcp_connection.h"
#include "xdp/netdev.h"

namespace {

using namespace xlane;
using namespace std::chrono_literals;
using engine::TcpEngine;
using engine::TcpSocketId;
using engine::UdpEngine;
using namespace xlane::test;

constexpr int kWaitMs = 10000;

std::vector<uint8_t> pattern(size_t size, unsigned seed) {
    std::vector<uint8_t> bytes(size);
    uint32_t state = 2463534242u + seed * 977u;
    for (auto& byte : bytes) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        byte = static_cast<uint8_t>(state);
    }
    return bytes;
}

// An interest in `events` of one socket, held while it lives (a waiter's).
class Interest {
  public:
    Interest(TcpEngine& tcp, TcpSocketId id, uint32_t events)
        : tcp_(tcp), id_(id), events_(events) {
        REQUIRE(tcp_.hold_interest(id_, events_).ok());
    }
    ~Interest() { (void)tcp_.release_interest(id_, events_); }
    Interest(const Interest&) = delete;
    Interest& operator=(const Interest&) = delete;

  private:
    TcpEngine& tcp_;
    TcpSocketId id_;
    uint32_t events_;
};

bool readable_now(int fd, int timeout_ms = 0) {
    pollfd pfd{fd, POLLIN, 0};
    return ::poll(&pfd, 1, timeout_ms) == 1;
}

// Waits until the socket's poll mask intersects `events` (or ERR/HUP), the
// way a blocking call would: interest, then the eventfd, then the mask.
uint32_t wait_for(TcpEngine& tcp, TcpSocketId id, uint32_t events, int timeout_ms = kWaitMs) {
    const Interest interest(tcp, id, events);
    const int fd = tcp.event_fd(id).value();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const uint32_t mask = tcp.poll_mask(id).value();
        if ((mask & (events | POLLERR | POLLHUP)) != 0) return mask;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return 0;
        pollfd pfd{fd, POLLIN, 0};
        (void)::poll(&pfd, 1, static_cast<int>(left.count()));
    }
}

void send_all(TcpEngine& tcp, TcpSocketId id, const std::vector<uint8_t>& data) {
    size_t done = 0;
    while (done < data.size()) {
        const iovec iov{const_cast<uint8_t*>(data.data() + done),
                        std::min<size_t>(data.size() - done, 100000)};
        auto sent = tcp.send(id, std::span(&iov, 1));
        if (!sent.ok()) {
            REQUIRE(sent.error().errnum == EAGAIN);
            REQUIRE((wait_for(tcp, id, POLLOUT) & POLLOUT) != 0);
            continue;
        }
        done += sent.value();
    }
}

std::vector<uint8_t> receive_to_end(TcpEngine& tcp, TcpSocketId id) {
    std::vector<uint8_t> out;
    std::vector<uint8_t> buffer(65536);
    for (;;) {
        const iovec iov{buffer.data(), buffer.size()};
        auto got = tcp.receive(id, std::span(&iov, 1));
        if (!got.ok()) {
            INFO(got.error().describe());
            REQUIRE(got.error().errnum == EAGAIN);
            REQUIRE((wait_for(tcp, id, POLLIN) & POLLIN) != 0);
            continue;
        }
        if (got.value() == 0) return out;
        out.insert(out.end(), buffer.begin(), buffer.begin() + got.value());
    }
}

// A kernel TCP socket of the peer namespace A (sockets keep their namespace).
UniqueFd peer_socket(int family) {
    auto inside = NetnsSwitch::enter(peer_netns());
    REQUIRE(inside.ok());
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    const int one = 1;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const timeval timeout{20, 0};
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    return fd;
}

// `receive_buffer` > 0: SO_RCVBUF before listen(), inherited by the
// accepted sockets (and so by the window they advertise).
UniqueFd peer_listener(const Endpoint& at, int backlog = 16, int receive_buffer = 0) {
    const int family = at.addr.is_v4() ? AF_INET : AF_INET6;
    UniqueFd fd = peer_socket(family);
    if (receive_buffer > 0)
        REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                             sizeof(receive_buffer)) == 0);
    auto sa = engine::to_socket_address(family, at);
    REQUIRE(sa.ok());
    REQUIRE(::bind(fd.get(), sa->get(), sa->length) == 0);
    REQUIRE(::listen(fd.get(), backlog) == 0);
    return fd;
}

// Blocking kernel-side helpers (run on the peer thread: no REQUIRE there).
bool kernel_read_to_end(int fd, std::vector<uint8_t>& out) {
    std::vector<uint8_t> buffer(65536);
    for (;;) {
        const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (got < 0) return false;
        if (got == 0) return true;
        out.insert(out.end(), buffer.begin(), buffer.begin() + got);
    }
}

bool kernel_write_all(int fd, std::span<const uint8_t> data) {
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t sent = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (sent <= 0) return false;
        done += static_cast<size_t>(sent);
    }
    return true;
}

// The kernel peer closes with SO_LINGER {1, 0}: an RST instead of a FIN.
void reset_from_kernel(UniqueFd& conn) {
    const linger abortive{1, 0};
    REQUIRE(::setsockopt(conn.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive)) == 0);
    conn.reset();
}

bool faults_injected() {
    return !env("XLANE_TCP_FAULTS").empty();
}

std::vector<size_t> transfer_sizes() {
    // XL_ENGINE_TRANSFER_MAX trims the set for the heavier fault runs.
    const std::string max = env("XL_ENGINE_TRANSFER_MAX");
    const size_t limit = max.empty() ? SIZE_MAX : std::stoul(max);
    std::vector<size_t> sizes;
    for (const size_t size : {size_t{1}, size_t{1460}, size_t{100000}, size_t{3 * 1024 * 1024}})
        if (size <= limit) sizes.push_back(size);
    return sizes;
}

// An endless pseudo-random byte stream: byte i is byte i % 8 of
// splitmix64(seed, i / 8), so a sender and a receiver agree on 100 MB
// without either holding it.
void stream_fill(uint64_t seed, uint64_t offset, std::span<uint8_t> out) {
    size_t i = 0;
    while (i < out.size()) {
        uint64_t z = (seed << 40) ^ ((offset + i) / 8);
        z += 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        for (size_t within = (offset + i) % 8; within < 8 && i < out.size(); ++within, ++i)
            out[i] = static_cast<uint8_t>(z >> (8 * within));
    }
}

// The receiving end of a stream_fill() stream: counts the bytes and keeps
// the offset of the first one that differs.
struct StreamCheck {
    explicit StreamCheck(uint64_t seed_) : seed(seed_) {}
    void feed(std::span<const uint8_t> data) {
        expected.resize(data.size());
        stream_fill(seed, bytes, expected);
        const auto differs = std::mismatch(data.begin(), data.end(), expected.begin()).first;
        if (first_mismatch == UINT64_MAX && differs != data.end())
            first_mismatch = bytes + static_cast<uint64_t>(differs - data.begin());
        bytes += data.size();
    }
    [[nodiscard]] bool intact(uint64_t total) const {
        return bytes == total && first_mismatch == UINT64_MAX;
    }
    uint64_t seed;
    uint64_t bytes = 0;
    uint64_t first_mismatch = UINT64_MAX;
    std::vector<uint8_t> expected;
};

bool kernel_send_stream(int fd, uint64_t seed, uint64_t total) {
    std::vector<uint8_t> chunk(256 * 1024);
    for (uint64_t done = 0; done < total;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), total - done));
        stream_fill(seed, done, std::span(chunk).first(n));
        if (!kernel_write_all(fd, std::span(chunk).first(n))) return false;
        done += n;
    }
    return true;
}

bool kernel_check_stream(int fd, StreamCheck& check) {
    std::vector<uint8_t> buffer(256 * 1024);
    for (;;) {
        const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (got < 0) return false;
        if (got == 0) return true;
        check.feed(std::span(buffer).first(static_cast<size_t>(got)));
    }
}

// The kernel's view of its own socket (TCP_INFO state, TCP_* numbering).
int kernel_tcp_state(int fd) {
    tcp_info info{};
    socklen_t length = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    return info.tcpi_state;
}

// Polls (1 ms steps, bounded) until `holds()`; the wait's outcome.
template <typename Predicate>
bool eventually(Predicate holds,
                std::chrono::milliseconds limit = std::chrono::milliseconds(kWaitMs)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!holds()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// Waits until done(id) holds for every socket of `ids`, sleeping on their
// eventfds with interest `events` in between; false when time ran out.
template <typename Done>
bool wait_all(TcpEngine& tcp, const std::vector<TcpSocketId>& ids, uint32_t events, Done done,
              int timeout_ms = kWaitMs) {
    std::vector<std::unique_ptr<Interest>> interests;
    for (const TcpSocketId id : ids) interests.push_back(std::make_unique<Interest>(tcp, id, events));
    std::vector<TcpSocketId> pending = ids;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<pollfd> fds;
    for (;;) {
        std::erase_if(pending, [&](TcpSocketId id) { return done(id); });
        if (pending.empty()) return true;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        fds.clear();
        for (const TcpSocketId id : pending) fds.push_back({tcp.event_fd(id).value(), POLLIN, 0});
        (void)::poll(fds.data(), fds.size(), static_cast<int>(std::min<long>(left.count(), 100)));
    }
}

// Sends `chunk` until the call fails with something other than EAGAIN
// (waiting for POLLOUT in between, bounded) and returns that errno (0: time ran out).
int send_until_error(TcpEngine& tcp, TcpSocketId id, const std::vector<uint8_t>& chunk) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < deadline) {
        const iovec iov{const_cast<uint8_t*>(chunk.data()), chunk.size()};
        auto sent = tcp.send(id, std::span(&iov, 1));
        if (sent.ok()) continue;
        if (sent.error().errnum != EAGAIN) return sent.error().errnum;
        (void)wait_for(tcp, id, POLLOUT, 200);
    }
    return 0;
}

// The errno of one receive (0 for end of stream, -1 for data).
int receive_outcome(TcpEngine& tcp, TcpSocketId id) {
    std::vector<uint8_t> buffer(4096);
    const iovec iov{buffer.data(), buffer.size()};
    auto got = tcp.receive(id, std::span(&iov, 1));
    if (!got.ok()) return got.error().errnum;
    return got.value() == 0 ? 0 : -1;
}

int send_outcome(TcpEngine& tcp, TcpSocketId id) {
    const uint8_t byte = 1;
    const iovec iov{const_cast<uint8_t*>(&byte), 1};
    auto sent = tcp.send(id, std::span(&iov, 1));
    return sent.ok() ? 0 : sent.error().errnum;
}

// What Linux's tcp_poll says of a connection the peer reset, before the
// error is read: readable (EOF), writable (the next send fails), error, hang-up.
constexpr uint32_t kResetMask = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP;

// An engine client connected to a kernel server at `server`; the kernel's
// accepted end goes to `conn`.
TcpSocketId connect_to_kernel(TcpEngine& tcp, int listener, const Endpoint& server,
                              UniqueFd& conn) {
    auto id = tcp.open(server.addr.is_v4() ? AF_INET : AF_INET6);
    REQUIRE(id.ok());
    auto local = tcp.connect(id.value(), server);
    INFO((local ? "" : local.error().describe()));
    REQUIRE(local.ok());
    REQUIRE((wait_for(tcp, id.value(), POLLOUT) & POLLOUT) != 0);
    REQUIRE(tcp.take_error(id.value()).value() == 0);
    conn.reset(::accept(listener, nullptr, nullptr));
    REQUIRE(conn.valid());
    return id.value();
}

// An engine client connected to a kernel server listening on kAddrA:port
// (`backlog`, `receive_buffer` as peer_listener): the listener stays open
// with it, `conn` is the kernel's accepted end, `id` the engine's socket.
struct KernelServerLink {
    UniqueFd listener;
    UniqueFd conn;
    TcpSocketId id = 0;
    KernelServerLink(TcpEngine& tcp, uint16_t port, int backlog = 16, int receive_buffer = 0)
        : listener(peer_listener(endpoint(kAddrA, port), backlog, receive_buffer)),
          id(connect_to_kernel(tcp, listener.get(), endpoint(kAddrA, port), conn)) {}
};

}  // namespace

TEST_CASE("TCP engine against a kernel peer (runs tcp_engine.sh, which builds the hosts)") {
    if (!env("XL_ENGINE_IFACE").empty()) return;  // inside the hosts: the [hosts] cases run
    char self[4096] = {};
    REQUIRE(::readlink("/proc/self/exe", self, sizeof(self) - 1) > 0);
    const std::string command = std::string("timeout 170 bash '") + XLANE_TCP_ENGINE_SCRIPT +
                                "' '" + self + "' '" + XLANE_TOOL_BINARY + "'";
    const int status = std::system(command.c_str());
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("client: the engine connects to a kernel server, IPv4 and IPv6", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    size_t in_time_wait = 0;
    for (const bool ipv6 : {false, true}) {
        const Endpoint server = endpoint(ipv6 ? kAddr6A : kAddrA, ipv6 ? 43002 : 43001);
        UniqueFd listener = peer_listener(server);
        unsigned seed = 0;
        for (const size_t size : transfer_sizes()) {
            INFO("ipv6=" << ipv6 << " size=" << size);
            const auto ours = pattern(size, ++seed);
            const auto theirs = pattern(size + 7, ++seed);
            std::vector<uint8_t> kernel_got;
            bool kernel_ok = false;
            std::thread peer([&] {
                UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
                if (!conn) return;
                // The kernel reads to our FIN, answers, then closes first
                // (the engine's side goes CLOSE-WAIT -> LAST-ACK -> CLOSED).
                kernel_ok = kernel_read_to_end(conn.get(), kernel_got) &&
                            kernel_write_all(conn.get(), theirs);
            });
            auto id = tcp.open(ipv6 ? AF_INET6 : AF_INET);
            REQUIRE(id.ok());
            auto local = tcp.connect(id.value(), server);
            INFO((local ? "" : local.error().describe()));
            REQUIRE(local.ok());
            CHECK(local->addr == endpoint(ipv6 ? kAddr6B : kAddrB, 0).addr);
            REQUIRE((wait_for(tcp, id.value(), POLLOUT) & POLLOUT) != 0);
            CHECK(tcp.take_error(id.value()).value() == 0);
            CHECK(tcp.peer_address(id.value()).value().port == server.port);
            send_all(tcp, id.value(), ours);
            REQUIRE(tcp.shutdown(id.value(), SHUT_WR).ok());
            const auto got = receive_to_end(tcp, id.value());
            peer.join();
            REQUIRE(kernel_ok);
            CHECK(kernel_got.size() == ours.size());
            CHECK(kernel_got == ours);
            CHECK(got.size() == theirs.size());
            CHECK(got == theirs);
            // End of stream: readable with RDHUP and HUP (both directions shut).
            const uint32_t mask = tcp.poll_mask(id.value()).value();
            CHECK((mask & (POLLIN | POLLRDHUP | POLLHUP)) == (POLLIN | POLLRDHUP | POLLHUP));
            // A late duplicate (injected, or a retransmission when this busy
            // machine delayed an ACK past the peer's RTO) can reach the peer
            // after its socket is gone and draw an RST, which ends TIME-WAIT
            // early (as in Linux with RFC 1337 protection off): a clean end
            // all the same, error 0.
            const tcp::TcpInfo info = tcp.info(id.value()).value();
            const tcp::TcpState state = info.state;
            INFO("state=" << int(state) << " total_retrans=" << info.total_retrans
                          << " segs_out=" << info.segs_out << " segs_in=" << info.segs_in
                          << " error=" << tcp.take_error(id.value()).value());
            // The hook really drops: 3 MB at 2% loss needs retransmissions.
            if (faults_injected() && size > 1024 * 1024) CHECK(info.total_retrans > 0);
            CHECK((state == tcp::TcpState::kTimeWait || state == tcp::TcpState::kClosed));
            if (state == tcp::TcpState::kTimeWait)
                ++in_time_wait;
            else
                WARN("TIME-WAIT ended early by a peer RST (ipv6=" << ipv6 << " size=" << size
                                                                  << ")");
            REQUIRE(tcp.close(id.value()).ok());
        }
    }
    // The engine sent the first FIN (shutdown): each connection seen in
    // TIME-WAIT waits it out in the engine after close(), its port still
    // reserved (a late RST may still end one); without injected faults
    // nearly all of them get there and stay.
    CHECK(e->tcp().connection_count() <= in_time_wait);
    if (!faults_injected()) CHECK(e->tcp().connection_count() >= 2 * transfer_sizes().size() - 1);
}

TEST_CASE("server: kernel clients connect to an engine listener, IPv4 and IPv6", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    // One dual-stack listener on [::]:43010 serves both families.
    auto listener = tcp.open(AF_INET6);
    REQUIRE(listener.ok());
    REQUIRE(tcp.bind(listener.value(), endpoint("::", 43010)).ok());
    REQUIRE(tcp.listen(listener.value(), 8).ok());
    CHECK(tcp.poll_mask(listener.value()).value() == 0);
    for (const bool ipv6 : {false, true}) {
        unsigned seed = 100;
        for (const size_t size : transfer_sizes()) {
            INFO("ipv6=" << ipv6 << " size=" << size);
            const auto theirs = pattern(size, ++seed);
            const auto ours = pattern(size + 3, ++seed);
            std::vector<uint8_t> kernel_got;
            bool kernel_ok = false;
            const Endpoint target = endpoint(ipv6 ? kAddr6B : kAddrB, 43010);
            UniqueFd client = peer_socket(ipv6 ? AF_INET6 : AF_INET);
            std::thread peer([&] {
                auto sa = engine::to_socket_address(ipv6 ? AF_INET6 : AF_INET, target);
                if (!sa || ::connect(client.get(), sa->get(), sa->length) != 0) return;
                // The kernel sends and half-closes, then reads our answer to
                // our FIN: the engine closes first (FIN after queued data).
                kernel_ok = kernel_write_all(client.get(), theirs) &&
                            ::shutdown(client.get(), SHUT_WR) == 0 &&
                            kernel_read_to_end(client.get(), kernel_got);
            });
            REQUIRE((wait_for(tcp, listener.value(), POLLIN) & POLLIN) != 0);
            auto id = tcp.accept(listener.value());
            INFO((id ? "" : id.error().describe()));
            REQUIRE(id.ok());
            CHECK(tcp.peer_address(id.value()).value().addr ==
                  endpoint(ipv6 ? kAddr6A : kAddrA, 0).addr);
            const auto got = receive_to_end(tcp, id.value());
            CHECK(got == theirs);
            send_all(tcp, id.value(), ours);
            // close() right after the last send: nothing queued may be lost.
            REQUIRE(tcp.close(id.value()).ok());
            peer.join();
            REQUIRE(kernel_ok);
            CHECK(kernel_got.size() == ours.size());
            CHECK(kernel_got == ours);
        }
    }
    REQUIRE(tcp.close(listener.value()).ok());
    // The kernel sent the first FIN: each connection left the engine once
    // the kernel acknowledged ours (LAST-ACK -> CLOSED), no TIME-WAIT here.
    CHECK([&] {
        for (int i = 0; i < 300; ++i) {
            if (tcp.connection_count() == 0) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }());
    // Nothing listens on 43010 now: a new kernel client is refused (the
    // bind entry is gone and the kernel answers with RST).
    UniqueFd late = peer_socket(AF_INET);
    auto sa = engine::to_socket_address(AF_INET, endpoint(kAddrB, 43010));
    REQUIRE(sa.ok());
    CHECK(::connect(late.get(), sa->get(), sa->length) != 0);
    CHECK(errno == ECONNREFUSED);
}

TEST_CASE("a kernel RST to the SYN gives ECONNREFUSED; no route gives ENETUNREACH", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    for (const bool ipv6 : {false, true}) {
        auto id = tcp.open(ipv6 ? AF_INET6 : AF_INET);
        REQUIRE(id.ok());
        REQUIRE(tcp.connect(id.value(), endpoint(ipv6 ? kAddr6A : kAddrA, 43020)).ok());
        const uint32_t mask = wait_for(tcp, id.value(), POLLOUT, 3000);
        CHECK((mask & POLLERR) != 0);
        CHECK(tcp.take_error(id.value()).value() == ECONNREFUSED);
        CHECK(tcp.take_error(id.value()).value() == 0);  // read once, as SO_ERROR
        REQUIRE(tcp.close(id.value()).ok());
    }
    // Loopback is not ours: the caller keeps the kernel path.
    auto local = tcp.open(AF_INET);
    REQUIRE(local.ok());
    auto refused = tcp.connect(local.value(), endpoint("127.0.0.1", 43021));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().errnum == ENETUNREACH);
    REQUIRE(tcp.close(local.value()).ok());
}

TEST_CASE("the kernel resets an established connection: ECONNRESET once, then EOF", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    const Endpoint server = endpoint(kAddrA, 43030);
    UniqueFd listener = peer_listener(server);
    auto id = tcp.open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(tcp.connect(id.value(), server).ok());
    REQUIRE((wait_for(tcp, id.value(), POLLOUT) & POLLOUT) != 0);
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    REQUIRE(conn.valid());
    reset_from_kernel(conn);
    const uint32_t mask = wait_for(tcp, id.value(), POLLIN);
    CHECK((mask & (POLLERR | POLLHUP)) == (POLLERR | POLLHUP));
    std::vector<uint8_t> buffer(16);
    const iovec iov{buffer.data(), buffer.size()};
    auto first = tcp.receive(id.value(), std::span(&iov, 1));
    REQUIRE_FALSE(first.ok());
    CHECK(first.error().errnum == ECONNRESET);
    auto second = tcp.receive(id.value(), std::span(&iov, 1));
    REQUIRE(second.ok());
    CHECK(second.value() == 0);
    REQUIRE(tcp.close(id.value()).ok());
}

TEST_CASE("MSG_PEEK, scatter/gather iovecs, FIONREAD and POLLOUT of an idle connection",
          "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    const Endpoint server = endpoint(kAddrA, 43040);
    UniqueFd listener = peer_listener(server);
    auto id = tcp.open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(tcp.connect(id.value(), server).ok());
    REQUIRE((wait_for(tcp, id.value(), POLLOUT) & POLLOUT) != 0);
    CHECK((tcp.poll_mask(id.value()).value() & (POLLIN | POLLHUP | POLLERR)) == 0);
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    REQUIRE(conn.valid());

    const auto data = pattern(1000, 9);
    REQUIRE(kernel_write_all(conn.get(), data));
    REQUIRE((wait_for(tcp, id.value(), POLLIN) & POLLIN) != 0);
    REQUIRE([&] {
        for (int i = 0; i < 300 && tcp.readable_bytes(id.value()).value() < 1000; ++i)
            std::this_thread::sleep_for(10ms);
        return tcp.readable_bytes(id.value()).value() == 1000;
    }());
    std::vector<uint8_t> a(60), b(40);
    const iovec peek_parts[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    auto peeked = tcp.receive(id.value(), peek_parts, true);
    REQUIRE(peeked.ok());
    CHECK(peeked.value() == 100);
    a.insert(a.end(), b.begin(), b.end());
    CHECK(std::equal(a.begin(), a.end(), data.begin()));
    CHECK(tcp.readable_bytes(id.value()).value() == 1000);  // peek consumed nothing

    std::vector<uint8_t> x(10), y(990), z(100);
    const iovec parts[3] = {{x.data(), x.size()}, {y.data(), y.size()}, {z.data(), z.size()}};
    auto got = tcp.receive(id.value(), parts);
    REQUIRE(got.ok());
    CHECK(got.value() == 1000);
    x.insert(x.end(), y.begin(), y.end());
    CHECK(x == data);
    CHECK(tcp.readable_bytes(id.value()).value() == 0);
    CHECK((tcp.poll_mask(id.value()).value() & POLLIN) == 0);

    // Gather: three iovecs arrive as one stream.
    const auto p1 = pattern(5, 1), p2 = pattern(3000, 2), p3 = pattern(7, 3);
    const iovec out[3] = {{const_cast<uint8_t*>(p1.data()), p1.size()},
                          {const_cast<uint8_t*>(p2.data()), p2.size()},
                          {const_cast<uint8_t*>(p3.data()), p3.size()}};
    auto sent = tcp.send(id.value(), out);
    REQUIRE(sent.ok());
    CHECK(sent.value() == 3012);
    REQUIRE(tcp.close(id.value()).ok());
    std::vector<uint8_t> kernel_got;
    REQUIRE(kernel_read_to_end(conn.get(), kernel_got));
    std::vector<uint8_t> expected = p1;
    expected.insert(expected.end(), p2.begin(), p2.end());
    expected.insert(expected.end(), p3.begin(), p3.end());
    CHECK(kernel_got == expected);
}

TEST_CASE("readiness: the eventfd serves the interests of all the socket's waiters at once",
          "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    KernelServerLink link(tcp, 43097);
    const TcpSocketId id = link.id;
    const int fd = tcp.event_fd(id).value();
    REQUIRE((tcp.poll_mask(id).value() & POLLOUT) != 0);
    // Nobody waits: quiet, although the socket is writable.
    CHECK_FALSE(readable_now(fd));
    {
        // An epoll registration for EPOLLIN, say, for the whole case.
        const Interest reader(tcp, id, POLLIN);
        CHECK_FALSE(readable_now(fd));
        {
            // A blocking send waits for room meanwhile: the eventfd wakes it.
            const Interest writer(tcp, id, POLLOUT);
            CHECK(readable_now(fd));
            // A second reader (a poll call) changes nothing.
            const Interest poller(tcp, id, POLLIN | POLLRDHUP);
            CHECK(readable_now(fd));
        }
        // The writer left: its interest does not outlive it ...
        CHECK_FALSE(readable_now(fd));
        // ... nor hides the reader's: data wakes it.
        const char hello[] = "hello";
        REQUIRE(::send(link.conn.get(), hello, sizeof hello, 0) == sizeof hello);
        CHECK(readable_now(fd, kWaitMs));
        CHECK((tcp.poll_mask(id).value() & POLLIN) != 0);
    }
    // The data waits unread, but nobody wants it any more.
    CHECK_FALSE(readable_now(fd));
    {
        const Interest reader(tcp, id, POLLIN);
        CHECK(readable_now(fd));
    }
    REQUIRE(tcp.close(id, true).ok());
}

TEST_CASE("bulk: 100 MB each way over one IPv4 connection, checked byte for byte", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    constexpr uint64_t kBulk = 100ULL * 1024 * 1024;
    constexpr uint64_t kUpSeed = 11, kDownSeed = 12;
    const Endpoint server = endpoint(kAddrA, 43050);
    UniqueFd listener = peer_listener(server);
    // The kernel reads our stream to its end on one thread while another
    // writes its own and then half-closes: both directions at once. (A
    // jthread: a failed REQUIRE joins it, bounded by the kernel sockets' 20 s
    // timeouts, rather than terminating the process.)
    StreamCheck kernel_got(kUpSeed);
    bool kernel_read_ok = false, kernel_write_ok = false;
    std::jthread peer([&] {
        UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
        if (!conn) return;
        std::jthread writer([&] {
            kernel_write_ok = kernel_send_stream(conn.get(), kDownSeed, kBulk) &&
                              ::shutdown(conn.get(), SHUT_WR) == 0;
        });
        kernel_read_ok = kernel_check_stream(conn.get(), kernel_got);
        writer.join();
    });
    auto id = tcp.open(AF_INET);
    REQUIRE(id.ok());
    REQUIRE(tcp.connect(id.value(), server).ok());
    REQUIRE((wait_for(tcp, id.value(), POLLOUT) & POLLOUT) != 0);
    REQUIRE(tcp.take_error(id.value()).value() == 0);

    StreamCheck got(kDownSeed);
    std::vector<uint8_t> outgoing(256 * 1024), incoming(256 * 1024);
    uint64_t sent = 0;
    size_t outgoing_at = 0, outgoing_size = 0;
    bool shut = false, eof = false;
    int failure = 0;
    const int fd = tcp.event_fd(id.value()).value();
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    while (!(shut && eof) && failure == 0 && std::chrono::steady_clock::now() < deadline) {
        while (sent < kBulk) {
            if (outgoing_at == outgoing_size) {
                outgoing_size =
                    static_cast<size_t>(std::min<uint64_t>(outgoing.size(), kBulk - sent));
                outgoing_at = 0;
                stream_fill(kUpSeed, sent, std::span(outgoing).first(outgoing_size));
            }
            const iovec iov{outgoing.data() + outgoing_at, outgoing_size - outgoing_at};
            auto result = tcp.send(id.value(), std::span(&iov, 1));
            if (!result.ok()) {
                if (result.error().errnum != EAGAIN) failure = result.error().errnum;
                break;
            }
            outgoing_at += result.value();
            sent += result.value();
        }
        if (sent == kBulk && !shut) {
            REQUIRE(tcp.shutdown(id.value(), SHUT_WR).ok());
            shut = true;
        }
        while (!eof && failure == 0) {
            const iovec iov{incoming.data(), incoming.size()};
            auto result = tcp.receive(id.value(), std::span(&iov, 1));
            if (!result.ok()) {
                if (result.error().errnum != EAGAIN) failure = result.error().errnum;
                break;
            }
            if (result.value() == 0) eof = true;
            got.feed(std::span(incoming).first(result.value()));
        }
        const Interest interest(tcp, id.value(), sent < kBulk ? POLLIN | POLLOUT : POLLIN);
        pollfd pfd{fd, POLLIN, 0};
        (void)::poll(&pfd, 1, 100);
    }
    INFO("sent=" << sent << " received=" << got.bytes << " errno=" << failure
                 << " kernel received=" << kernel_got.bytes);
    CHECK(failure == 0);
    REQUIRE(shut);
    REQUIRE(eof);
    peer.join();
    CHECK(kernel_read_ok);
    CHECK(kernel_write_ok);
    CHECK(kernel_got.first_mismatch == UINT64_MAX);
    CHECK(kernel_got.intact(kBulk));
    CHECK(got.first_mismatch == UINT64_MAX);
    CHECK(got.intact(kBulk));
    // The peer may have shut its side down before our last bytes came: their
    // ACK can follow its FIN, and the progress thread takes it in a little
    // later (sooner or later, never not at all).
    tcp::TcpInfo info = tcp.info(id.value()).value();
    for (int i = 0; i < 500 && info.bytes_acked < kBulk; ++i) {
        std::this_thread::sleep_for(10ms);
        info = tcp.info(id.value()).value();
    }
    CHECK(info.bytes_acked >= kBulk);
    CHECK(info.bytes_received >= kBulk);
    CHECK(tcp.take_error(id.value()).value() == 0);
    REQUIRE(tcp.close(id.value()).ok());
}

TEST_CASE("concurrency: 1,000 connections open at once, each echoed, then all closed cleanly",
          "[.hosts]") {
    constexpr size_t kConnections = 1000;
    // Three descriptors a connection (our shadow socket and eventfd, the
    // kernel's accepted socket): past a 1,024 soft limit, so raise it.
    rlimit files{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
    if (files.rlim_cur < 4 * kConnections) {
        files.rlim_cur = std::min<rlim_t>(files.rlim_max, 4 * kConnections);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &files) == 0);
    }
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    const Endpoint server = endpoint(kAddrA, 43100);
    UniqueFd listener = peer_listener(server, 2 * kConnections);
    REQUIRE(::fcntl(listener.get(), F_SETFL, O_NONBLOCK) == 0);

    // The kernel side: one epoll thread accepts, echoes whatever arrives and
    // closes each connection at our FIN; it counts how many were open at once.
    std::atomic<bool> stop{false};
    std::atomic<size_t> open_now{0};
    size_t accepted = 0, max_open = 0, closed_at_eof = 0, errors = 0;
    std::jthread peer([&] {
        UniqueFd poller(::epoll_create1(EPOLL_CLOEXEC));
        if (!poller) {
            ++errors;
            return;
        }
        epoll_event listen_event{EPOLLIN, {.fd = listener.get()}};
        (void)::epoll_ctl(poller.get(), EPOLL_CTL_ADD, listener.get(), &listen_event);
        std::vector<epoll_event> events(256);
        std::vector<uint8_t> buffer(4096);
        while (!stop && (accepted < kConnections || open_now > 0)) {
            const int n =
                ::epoll_wait(poller.get(), events.data(), static_cast<int>(events.size()), 100);
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == listener.get()) {
                    for (;;) {
                        const int conn = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
                        if (conn < 0) break;
                        epoll_event conn_event{EPOLLIN, {.fd = conn}};
                        (void)::epoll_ctl(poller.get(), EPOLL_CTL_ADD, conn, &conn_event);
                        ++accepted;
                        max_open = std::max<size_t>(max_open, ++open_now);
                    }
                    continue;
                }
                const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
                if (got > 0 &&
                    kernel_write_all(fd, std::span(buffer).first(static_cast<size_t>(got))))
                    continue;
                if (got == 0)
                    ++closed_at_eof;
                else
                    ++errors;
                (void)::epoll_ctl(poller.get(), EPOLL_CTL_DEL, fd, nullptr);
                ::close(fd);
                --open_now;
            }
        }
    });
    // A failed REQUIRE must not leave the thread running.
    struct PeerJoin {
        std::atomic<bool>& stop;
        std::jthread& peer;
        void join() {
            stop = true;
            if (peer.joinable()) peer.join();
        }
        ~PeerJoin() { join(); }
    } peer_join{stop, peer};

    // Every connection attempt at once (1,000 SYNs in a burst).
    std::vector<TcpSocketId> ids;
    for (size_t i = 0; i < kConnections; ++i) {
        auto id = tcp.open(AF_INET);
        INFO("socket " << i << ": " << (id ? "" : id.error().describe()));
        REQUIRE(id.ok());
        auto local = tcp.connect(id.value(), server);
        INFO("connect " << i << ": " << (local ? "" : local.error().describe()));
        REQUIRE(local.ok());
        ids.push_back(id.value());
    }
    size_t established = 0;
    const bool all_established = wait_all(tcp, ids, POLLOUT, [&](TcpSocketId id) {
        if ((tcp.poll_mask(id).value() & (POLLOUT | POLLERR)) == 0) return false;
        ++established;
        return true;
    });
    INFO("established " << established << " of " << kConnections);
    REQUIRE(all_established);
    for (const TcpSocketId id : ids) REQUIRE(tcp.take_error(id).value() == 0);

    // A distinct message on each, echoed back whole on its own connection.
    std::unordered_map<TcpSocketId, std::vector<uint8_t>> message, echoed;
    for (size_t i = 0; i < kConnections; ++i) {
        std::string text = "connection " + std::to_string(i) + ":";
        std::vector<uint8_t> bytes(text.begin(), text.end());
        const auto tail = pattern(40 + i % 200, static_cast<unsigned>(1000 + i));
        bytes.insert(bytes.end(), tail.begin(), tail.end());
        const iovec iov{bytes.data(), bytes.size()};
        auto sent = tcp.send(ids[i], std::span(&iov, 1));
        INFO("send " << i);
        REQUIRE(sent.ok());
        REQUIRE(sent.value() == bytes.size());
        message[ids[i]] = std::move(bytes);
    }
    std::vector<uint8_t> buffer(4096);
    const bool all_echoed = wait_all(tcp, ids, POLLIN, [&](TcpSocketId id) {
        std::vector<uint8_t>& got = echoed[id];
        for (;;) {
            const iovec iov{buffer.data(), buffer.size()};
            auto result = tcp.receive(id, std::span(&iov, 1));
            if (!result.ok()) {
                REQUIRE(result.error().errnum == EAGAIN);
                break;
            }
            REQUIRE(result.value() > 0);  // no end of stream before our FIN
            got.insert(got.end(), buffer.begin(), buffer.begin() + result.value());
        }
        return got.size() >= message[id].size();
    });
    size_t intact = 0;
    for (const TcpSocketId id : ids) intact += echoed[id] == message[id] ? 1 : 0;
    INFO("echoes intact: " << intact << " of " << kConnections);
    REQUIRE(all_echoed);
    CHECK(intact == kConnections);
    // All of them open at the same time, on both sides, before any closes.
    CHECK(open_now.load() == kConnections);
    CHECK(tcp.connection_count() == kConnections);
    size_t in_established = 0;
    for (const TcpSocketId id : ids)
        in_established += tcp.info(id).value().state == tcp::TcpState::kEstablished ? 1 : 0;
    CHECK(in_established == kConnections);

    // Our FIN on each; the kernel closes at it; each of ours sees end of stream.
    for (const TcpSocketId id : ids) REQUIRE(tcp.shutdown(id, SHUT_WR).ok());
    const bool all_ended =
        wait_all(tcp, ids, POLLIN, [&](TcpSocketId id) { return receive_outcome(tcp, id) == 0; });
    REQUIRE(all_ended);
    size_t clean = 0;
    for (const TcpSocketId id : ids) {
        clean += tcp.take_error(id).value() == 0 ? 1 : 0;
        REQUIRE(tcp.close(id).ok());
    }
    CHECK(clean == kConnections);
    // Every kernel connection is gone by now (the thread ends on its own);
    // the stop flag only bounds a failure.
    CHECK(eventually([&] { return open_now.load() == 0; }));
    peer_join.join();
    INFO("accepted=" << accepted << " max_open=" << max_open << " closed_at_eof=" << closed_at_eof
                     << " errors=" << errors);
    CHECK(accepted == kConnections);
    CHECK(max_open == kConnections);
    CHECK(closed_at_eof == kConnections);
    CHECK(errors == 0);
    // The rings held up: no frame the engine meant to send was dropped, and
    // the kernel neither rejected a descriptor nor found an RX ring full.
    CHECK(tcp.segments_dropped_tx() == 0);
    for (const auto& port : e->usage()) {
        for (const auto& queue : port.queues) {
            INFO(port.ifname << " queue " << queue.queue
                             << ": rx_dropped=" << queue.kernel.rx_dropped
                             << " rx_ring_full=" << queue.kernel.rx_ring_full
                             << " fill_ring_empty=" << queue.kernel.rx_fill_ring_empty_descs);
            CHECK(queue.kernel.rx_invalid_descs == 0);
            CHECK(queue.kernel.tx_invalid_descs == 0);
            CHECK(queue.kernel.rx_ring_full == 0);
            CHECK(queue.kernel.rx_dropped == 0);
        }
    }
}

TEST_CASE("half-close: the engine shuts its write side and keeps receiving", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    KernelServerLink link(tcp, 43060);
    UniqueFd& conn = link.conn;
    const TcpSocketId id = link.id;
    const auto request = pattern(1000, 61);
    const auto reply = pattern(2 * 1024 * 1024, 62);
    std::vector<uint8_t> kernel_got;
    bool kernel_ok = false;
    int kernel_state_at_eof = -1;
    std::jthread peer([&] {
        // The kernel reads to our FIN, then answers in pieces for a while.
        if (!kernel_read_to_end(conn.get(), kernel_got)) return;
        kernel_state_at_eof = kernel_tcp_state(conn.get());
        constexpr size_t kPieces = 8;
        for (size_t i = 0; i < kPieces; ++i) {
            const size_t piece = reply.size() / kPieces;
            if (!kernel_write_all(conn.get(), std::span(reply).subspan(i * piece, piece))) return;
            std::this_thread::sleep_for(25ms);
        }
        kernel_ok = true;
        conn.reset();
    });
    send_all(tcp, id, request);
    REQUIRE(tcp.shutdown(id, SHUT_WR).ok());
    CHECK(send_outcome(tcp, id) == EPIPE);
    // FIN-WAIT-2 while the kernel is still sending: writable (the next send
    // fails at once), neither hung up nor at end of stream.
    CHECK(eventually([&] { return tcp.info(id).value().state == tcp::TcpState::kFinWait2; }));
    const uint32_t mask = tcp.poll_mask(id).value();
    CHECK((mask & POLLOUT) != 0);
    CHECK((mask & (POLLHUP | POLLRDHUP | POLLERR)) == 0);
    const auto got = receive_to_end(tcp, id);
    peer.join();
    REQUIRE(kernel_ok);
    CHECK(kernel_got == request);
    CHECK(kernel_state_at_eof == TCP_CLOSE_WAIT);
    CHECK(got.size() == reply.size());
    CHECK(got == reply);
    CHECK(tcp.take_error(id).value() == 0);
    const tcp::TcpState state = tcp.info(id).value().state;
    CHECK((state == tcp::TcpState::kTimeWait || state == tcp::TcpState::kClosed));
    REQUIRE(tcp.close(id).ok());
}

TEST_CASE("half-close: the kernel shuts its write side, the engine keeps sending", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    KernelServerLink link(tcp, 43061);
    UniqueFd& conn = link.conn;
    const TcpSocketId id = link.id;
    REQUIRE(::shutdown(conn.get(), SHUT_WR) == 0);
    // End of stream for us, still writable, no hang-up: CLOSE-WAIT.
    REQUIRE((wait_for(tcp, id, POLLRDHUP) & POLLRDHUP) != 0);
    CHECK(receive_outcome(tcp, id) == 0);
    CHECK(tcp.info(id).value().state == tcp::TcpState::kCloseWait);
    const uint32_t mask = tcp.poll_mask(id).value();
    CHECK((mask & (POLLIN | POLLOUT | POLLRDHUP)) == (POLLIN | POLLOUT | POLLRDHUP));
    CHECK((mask & (POLLHUP | POLLERR)) == 0);

    const auto data = pattern(2 * 1024 * 1024, 63);
    std::vector<uint8_t> kernel_got;
    bool kernel_ok = false;
    std::jthread peer([&] { kernel_ok = kernel_read_to_end(conn.get(), kernel_got); });
    constexpr size_t kPieces = 8;
    const size_t piece = data.size() / kPieces;
    for (size_t i = 0; i < kPieces; ++i) {
        send_all(tcp, id,
                 std::vector<uint8_t>(data.begin() + i * piece, data.begin() + (i + 1) * piece));
        std::this_thread::sleep_for(25ms);
        if (i == kPieces / 2) {
            CHECK(kernel_tcp_state(conn.get()) == TCP_FIN_WAIT2);
            CHECK(tcp.info(id).value().state == tcp::TcpState::kCloseWait);
        }
    }
    REQUIRE(tcp.close(id).ok());  // FIN after the data: LAST-ACK, then gone
    peer.join();
    REQUIRE(kernel_ok);
    CHECK(kernel_got.size() == data.size());
    CHECK(kernel_got == data);
    CHECK(eventually([&] { return tcp.connection_count() == 0; }));
}

TEST_CASE("zero window: a kernel peer that stops reading, then drains", "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    KernelServerLink link(tcp, 43070, 16, 4096);
    UniqueFd& conn = link.conn;
    const TcpSocketId id = link.id;
    const auto data = pattern(1024 * 1024, 71);
    // Non-blocking sends until the send buffer is full: EAGAIN, POLLOUT clear.
    size_t queued = 0;
    int last_error = 0;
    while (queued < data.size()) {
        const iovec iov{const_cast<uint8_t*>(data.data() + queued),
                        std::min<size_t>(data.size() - queued, 65536)};
        auto sent = tcp.send(id, std::span(&iov, 1));
        if (!sent.ok()) {
            last_error = sent.error().errnum;
            break;
        }
        queued += sent.value();
    }
    INFO("queued=" << queued);
    REQUIRE(last_error == EAGAIN);
    REQUIRE(queued < data.size());
    CHECK((tcp.poll_mask(id).value() & POLLOUT) == 0);
    // The kernel's window closes; our persist timer probes it, and the
    // kernel's answers keep the connection alive.
    CHECK(eventually([&] {
        const tcp::TcpInfo info = tcp.info(id).value();
        return info.snd_wnd == 0 && info.unacked == 0;
    }));
    CHECK(eventually([&] { return tcp.info(id).value().zero_window_probes >= 2; }));
    const tcp::TcpInfo stalled = tcp.info(id).value();
    INFO("zero_window_probes=" << stalled.zero_window_probes << " snd_wnd=" << stalled.snd_wnd);
    CHECK(stalled.state == tcp::TcpState::kEstablished);
    CHECK(tcp.take_error(id).value() == 0);
    CHECK((tcp.poll_mask(id).value() & POLLOUT) == 0);

    // The kernel drains: the window opens and everything arrives intact.
    std::vector<uint8_t> kernel_got;
    bool kernel_ok = false;
    std::jthread peer([&] { kernel_ok = kernel_read_to_end(conn.get(), kernel_got); });
    send_all(tcp, id, std::vector<uint8_t>(data.begin() + queued, data.end()));
    REQUIRE(tcp.close(id).ok());
    peer.join();
    REQUIRE(kernel_ok);
    CHECK(kernel_got.size() == data.size());
    CHECK(kernel_got == data);
}

TEST_CASE("rst: the kernel resets us while established (sending), in FIN-WAIT-2 and CLOSE-WAIT",
          "[.hosts]") {
    // The errno sequences are Linux's own for each state (checked against
    // two kernel sockets): the error once, then EPIPE from send and end of
    // stream from recv; after the peer's FIN, recv says end of stream and
    // leaves the EPIPE for send and SO_ERROR.
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    {
        INFO("ESTABLISHED, sending: the kernel closes with unread data");
        KernelServerLink link(tcp, 43080);
        UniqueFd& conn = link.conn;
        const TcpSocketId id = link.id;
        const auto chunk = pattern(65536, 81);
        send_all(tcp, id, chunk);
        int unread = 0;
        REQUIRE(eventually(
            [&] { return ::ioctl(conn.get(), FIONREAD, &unread) == 0 && unread > 1000; }));
        std::vector<uint8_t> some(1000);
        REQUIRE(::recv(conn.get(), some.data(), some.size(), 0) == 1000);
        CHECK(std::equal(some.begin(), some.end(), chunk.begin()));
        REQUIRE(::ioctl(conn.get(), FIONREAD, &unread) == 0);
        REQUIRE(unread > 0);
        conn.reset();  // unread data: RST, not FIN (RFC 2525)
        CHECK(send_until_error(tcp, id, chunk) == ECONNRESET);
        CHECK(send_outcome(tcp, id) == EPIPE);
        CHECK(receive_outcome(tcp, id) == 0);
        CHECK(tcp.take_error(id).value() == 0);
        CHECK((tcp.poll_mask(id).value() & (POLLHUP | POLLERR)) == POLLHUP);
        CHECK(tcp.info(id).value().state == tcp::TcpState::kClosed);
        REQUIRE(tcp.close(id).ok());
    }
    {
        INFO("FIN-WAIT-2: the kernel aborts (SO_LINGER 0) after our FIN");
        KernelServerLink link(tcp, 43081);
        UniqueFd& conn = link.conn;
        const TcpSocketId id = link.id;
        REQUIRE(tcp.shutdown(id, SHUT_WR).ok());
        // This EPIPE is the shut write side's: the reset below still reports.
        CHECK(send_outcome(tcp, id) == EPIPE);
        std::vector<uint8_t> nothing;
        REQUIRE(kernel_read_to_end(conn.get(), nothing));
        CHECK(nothing.empty());
        REQUIRE(eventually([&] { return tcp.info(id).value().state == tcp::TcpState::kFinWait2; }));
        reset_from_kernel(conn);
        const uint32_t mask = wait_for(tcp, id, POLLERR);
        CHECK((mask & kResetMask) == kResetMask);
        CHECK(receive_outcome(tcp, id) == ECONNRESET);
        CHECK(receive_outcome(tcp, id) == 0);
        CHECK(send_outcome(tcp, id) == EPIPE);
        CHECK(tcp.take_error(id).value() == 0);
        REQUIRE(tcp.close(id).ok());
    }
    {
        INFO("CLOSE-WAIT: the kernel half-closes, then aborts");
        KernelServerLink link(tcp, 43082);
        UniqueFd& conn = link.conn;
        const TcpSocketId id = link.id;
        REQUIRE(::shutdown(conn.get(), SHUT_WR) == 0);
        REQUIRE((wait_for(tcp, id, POLLRDHUP) & POLLRDHUP) != 0);
        REQUIRE(tcp.info(id).value().state == tcp::TcpState::kCloseWait);
        reset_from_kernel(conn);
        // Interest none: only POLLERR/POLLHUP wake (POLLIN holds since the FIN).
        const uint32_t mask = wait_for(tcp, id, 0);
        CHECK((mask & kResetMask) == kResetMask);
        CHECK(receive_outcome(tcp, id) == 0);
        CHECK(receive_outcome(tcp, id) == 0);
        CHECK((tcp.poll_mask(id).value() & POLLERR) != 0);  // still pending
        CHECK(tcp.take_error(id).value() == EPIPE);
        CHECK(send_outcome(tcp, id) == EPIPE);
        REQUIRE(tcp.close(id).ok());
    }
}

namespace {

// Removes the peer's IPv4 address (its kernel then drops what we send to
// it, silently: no forwarding, no ICMP) and puts it back on destruction.
class PeerAddressRemoved {
  public:
    PeerAddressRemoved() { removed_ = run("del") == 0; }
    ~PeerAddressRemoved() {
        if (removed_) (void)run("add");
    }
    PeerAddressRemoved(const PeerAddressRemoved&) = delete;
    PeerAddressRemoved& operator=(const PeerAddressRemoved&) = delete;
    [[nodiscard]] bool removed() const { return removed_; }
    // Puts the address back now; the outcome of `ip addr add`.
    bool restore() {
        if (!removed_) return true;
        removed_ = false;
        return run("add") == 0;
    }

  private:
    static int run(const char* verb) {
        const std::string command = "nsenter --net='" + peer_netns() + "' ip -4 addr " + verb +
                                    " " + kAddrA + "/24 dev '" + env("XL_ENGINE_PEER_IFACE") + "'";
        return std::system(command.c_str());
    }
    bool removed_ = false;
};

}  // namespace

// Bytes the kernel peer sends until its socket buffer is full (non-blocking).
size_t kernel_flood(int fd, size_t limit) {
    const std::vector<uint8_t> chunk(65536, 0x5a);
    size_t sent = 0;
    while (sent < limit) {
        const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
    }
    return sent;
}

// What the preload library hands over after setsockopt(SO_RCVBUF, 4096):
// the value Linux reads back (doubled), the rest at Linux's defaults.
tcp::SocketOptions small_receive_buffer() {
    tcp::SocketOptions options;
    options.receive_buffer = 8192;
    return options;
}

TEST_CASE(
    "socket options: SO_RCVBUF bounds the window a kernel peer fills; TCP_CONGESTION "
    "switches; a listener's options reach its connections",
    "[.hosts]") {
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    SECTION("client: SO_RCVBUF before connect, TCP_CONGESTION on the live connection") {
        const Endpoint server = endpoint(kAddrA, 43092);
        UniqueFd listener = peer_listener(server);
        auto id = tcp.open(AF_INET);
        REQUIRE(id.ok());
        REQUIRE(tcp.set_options(id.value(), small_receive_buffer()).ok());
        REQUIRE(tcp.connect(id.value(), server).ok());
        REQUIRE((wait_for(tcp, id.value(), POLLOUT) & POLLOUT) != 0);
        UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
        REQUIRE(conn.valid());
        tcp::TcpInfo info = tcp.info(id.value()).value();
        CHECK(info.rcv_wscale == 0);
        CHECK(info.rcv_space == 4096);
        // Nothing is read: the kernel fills exactly the 4 KiB window and the
        // rest of what it queued waits on its side.
        const size_t sent = kernel_flood(conn.get(), 1 << 20);
        CHECK(sent > 4096);
        CHECK(eventually([&] { return tcp.readable_bytes(id.value()).value() == 4096; }));
        std::this_thread::sleep_for(300ms);
        CHECK(tcp.readable_bytes(id.value()).value() == 4096);
        int outq = 0;
        REQUIRE(::ioctl(conn.get(), SIOCOUTQ, &outq) == 0);
        CHECK(static_cast<size_t>(outq) == sent - 4096);
        info = tcp.info(id.value()).value();
        CHECK(info.rcv_space == 0);
        CHECK(info.rcv_wnd == 0);

        CHECK(info.congestion == tcp::CongestionAlgorithm::kCubic);
        tcp::SocketOptions reno = small_receive_buffer();
        reno.congestion = tcp::CongestionAlgorithm::kNewReno;
        REQUIRE(tcp.set_options(id.value(), reno).ok());
        CHECK(tcp.info(id.value()).value().congestion == tcp::CongestionAlgorithm::kNewReno);
        // The connection keeps working under the new algorithm.
        std::vector<uint8_t> buffer(65536);
        size_t drained = 0;
        CHECK(eventually([&] {
            const iovec iov{buffer.data(), buffer.size()};
            auto got = tcp.receive(id.value(), std::span(&iov, 1));
            if (got.ok()) drained += got.value();
            return drained == sent;
        }));
        CHECK(drained == sent);
        REQUIRE(tcp.close(id.value()).ok());
    }
    SECTION("server: a listener's SO_RCVBUF and TCP_CONGESTION reach accepted connections") {
        auto listener = tcp.open(AF_INET);
        REQUIRE(listener.ok());
        REQUIRE(tcp.bind(listener.value(), endpoint(kAddrB, 43093)).ok());
        tcp::SocketOptions options = small_receive_buffer();
        options.congestion = tcp::CongestionAlgorithm::kNewReno;
        REQUIRE(tcp.set_options(listener.value(), options).ok());
        REQUIRE(tcp.listen(listener.value(), 4).ok());
        UniqueFd client = peer_socket(AF_INET);
        auto sa = engine::to_socket_address(AF_INET, endpoint(kAddrB, 43093));
        REQUIRE(sa.ok());
        REQUIRE(::connect(client.get(), sa->get(), sa->length) == 0);
        REQUIRE((wait_for(tcp, listener.value(), POLLIN) & POLLIN) != 0);
        auto id = tcp.accept(listener.value());
        REQUIRE(id.ok());
        CHECK(tcp.info(id.value()).value().congestion == tcp::CongestionAlgorithm::kNewReno);
        const size_t sent = kernel_flood(client.get(), 1 << 20);
        CHECK(sent > 4096);
        CHECK(eventually([&] { return tcp.readable_bytes(id.value()).value() == 4096; }));
        std::this_thread::sleep_for(300ms);
        CHECK(tcp.readable_bytes(id.value()).value() == 4096);
        REQUIRE(tcp.close(id.value(), true).ok());
        REQUIRE(tcp.close(listener.value()).ok());
    }
}

// Takes the peer's address away for a moment (as the keepalive case).
TEST_CASE("socket options: TCP_USER_TIMEOUT gives ETIMEDOUT while data is unacknowledged",
          "[.hosts]") {
    REQUIRE_FALSE(env("XL_ENGINE_PEER_IFACE").empty());
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    KernelServerLink link(tcp, 43094);
    const TcpSocketId id = link.id;
    tcp::SocketOptions options;
    options.user_timeout = 1500ms;
    REQUIRE(tcp.set_options(id, options).ok());
    PeerAddressRemoved silent;
    REQUIRE(silent.removed());
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(send_outcome(tcp, id) == 0);  // one byte nobody acknowledges
    const uint32_t mask = wait_for(tcp, id, POLLIN, 1500 + 5000);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    CHECK(silent.restore());
    INFO("elapsed=" << elapsed.count() << " ms");
    CHECK((mask & POLLERR) != 0);
    CHECK(tcp.take_error(id).value() == ETIMEDOUT);
    // The retries2 default (15 RTOs, minutes) would not have ended it yet.
    CHECK(elapsed >= 1400ms);
    CHECK(elapsed <= 1500ms + 2500ms);
    CHECK(tcp.info(id).value().state == tcp::TcpState::kClosed);
    REQUIRE(tcp.close(id).ok());
}

// Last: it takes the peer's address away for a moment.
TEST_CASE("keepalive: probes answered keep the connection; an unreachable peer times it out",
          "[.hosts]") {
    REQUIRE_FALSE(env("XL_ENGINE_PEER_IFACE").empty());
    auto e = make_engine();
    TcpEngine& tcp = e->tcp();
    KernelServerLink link(tcp, 43090);
    const TcpSocketId id = link.id;
    tcp::KeepaliveConfig keepalive;
    keepalive.enabled = true;
    keepalive.idle = 200ms;
    keepalive.interval = 150ms;
    keepalive.probes = 3;
    REQUIRE(tcp.set_keepalive(id, keepalive).ok());

    // More probes than TCP_KEEPCNT: only answers can have kept it alive.
    CHECK(eventually([&] { return tcp.info(id).value().keepalive_probes > keepalive.probes; },
                     5000ms));
    tcp::TcpInfo info = tcp.info(id).value();
    CHECK(info.state == tcp::TcpState::kEstablished);
    CHECK(tcp.take_error(id).value() == 0);
    const uint32_t probes_before = info.keepalive_probes;

    // The peer goes silent: TCP_KEEPCNT probes unanswered, then ETIMEDOUT,
    // between KEEPCNT * KEEPINTVL and KEEPIDLE + KEEPCNT * KEEPINTVL after
    // the last answer (plus scheduling slack on a busy machine).
    const auto start = std::chrono::steady_clock::now();
    PeerAddressRemoved silent;
    REQUIRE(silent.removed());
    const auto nominal = std::chrono::duration_cast<std::chrono::milliseconds>(
        keepalive.idle + keepalive.probes * keepalive.interval);
    const uint32_t mask = wait_for(tcp, id, POLLIN, static_cast<int>(nominal.count()) + 5000);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    CHECK(silent.restore());
    INFO("elapsed=" << elapsed.count() << " ms");
    CHECK((mask & POLLERR) != 0);
    CHECK(tcp.take_error(id).value() == ETIMEDOUT);
    CHECK(elapsed >= keepalive.probes * keepalive.interval - 100ms);
    CHECK(elapsed <= nominal + 2500ms);
    info = tcp.info(id).value();
    CHECK(info.state == tcp::TcpState::kClosed);
    CHECK(info.keepalive_probes >= probes_before + keepalive.probes);
    CHECK(receive_outcome(tcp, id) == 0);
    CHECK(send_outcome(tcp, id) == EPIPE);
    REQUIRE(tcp.close(id).ok());
}
